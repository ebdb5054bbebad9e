/**
 * The one table of the agent's own error codes, in the style of fastify's `errors.js`: each code with its family,
 * what it means and the class (the constructor) whose instances carry it. Alink (wire) codes are not here; they
 * live in thing-model/codes.ts. `docs/errors.md` prints this table and `agent/errors/codes.test.ts` keeps the two
 * in sync; the same test builds an error of every family and checks that its code is a row of its class.
 *
 * The families keep their codes beside their classes (the outbox's `OUTBOX_ERROR_CODES`, the session's
 * `SessionErrorCode`, ...); this table takes them from there, and `satisfies Record<Code, string>` makes a code
 * added to a family without a meaning here a type error.
 */
import { ConfigError } from '../config/errors';
import { HealthError, type HealthErrorCode } from '../health/errors';
import { LifecycleError, type LifecycleErrorCode } from '../lifecycle/errors';
import {
  OUTBOX_ERROR_CODES,
  OutboxClosedError,
  OutboxConfigError,
  OutboxDiskFullError,
  OutboxDroppedError,
  OutboxFullError,
  OutboxInvalidMessageError,
  OutboxNotAttachedError,
  OutboxSendError,
  OutboxStorageError,
  type OutboxErrorCode,
} from '../outbox/errors';
import { INBOX_ERROR_CODES, InboxClosedError, InboxConfigError, InboxStorageError, type InboxErrorCode } from '../inbox/errors';
import { ClaimError, PLUGIN_ERROR_CODES, PluginError, type PluginErrorCode } from '../plugins/errors';
import { SessionError, type SessionErrorCode } from '../session/errors';
import { STORAGE_ERROR_CODES, StorageError, StorageLockedError, type StorageErrorCode } from '../storage/errors';
import { StateError, TopicError, UpstreamTimeoutError } from '../../handlers/api';
import { RemoteConfigError, type RemoteConfigErrorCode } from '../device-config/errors';
import { OTA_ERROR_CODES, OtaError, type OtaErrorCode } from '../ota/errors';
import { GATEWAY_ERROR_CODES, GatewayError, type GatewayErrorCode } from '../gateway/errors';

/** The code families (the prefix of each code, except the session's, which keeps its historical `AGENT_`). */
export type ErrorFamily = 'CONFIG' | 'SESSION' | 'STORAGE' | 'OUTBOX' | 'INBOX' | 'PLUGIN' | 'UPSTREAM' | 'LIFECYCLE' | 'HEALTH' | 'REMOTE_CONFIG' | 'OTA' | 'GATEWAY';

/** One row of the table. */
export interface AgentErrorInfo {
  readonly code: string;
  readonly family: ErrorFamily;
  /** The class whose instances carry this code in `code`. */
  readonly errorClass: abstract new (...args: never[]) => Error;
  readonly meaning: string;
}

const SESSION_CODES = {
  AGENT_PAYLOAD_TOO_LARGE: 'a publish payload exceeds limits.upstream.maxPayloadBytes',
  AGENT_TOPIC_TOO_LONG: 'a publish topic exceeds limits.upstream.maxTopicLength',
  AGENT_TOPIC_INVALID: 'a publish topic is empty or contains + or #',
  AGENT_RATE_LIMITED: 'the upstream rate limit (messages per second) refused a publish',
  AGENT_NOT_CONNECTED: 'a QoS 0 publish was made while disconnected (QoS 0 is never queued)',
  AGENT_SESSION_STOPPED: 'a publish was made after the session stopped',
  AGENT_SUBSCRIBE_REFUSED: 'the broker refused a subscription (SUBACK reason code 0x80 or above)',
  AGENT_SUBSCRIBE_FAILED: 'subscribing failed (connection lost or MQTT.js error)',
  AGENT_PUBLISH_FAILED: 'MQTT.js could not publish a message',
} as const satisfies Record<SessionErrorCode, string>;

const HEALTH_CODES = {
  HEALTH_LISTEN_FAILED: 'the health/metrics listener cannot listen on health.host:health.port',
} as const satisfies Record<HealthErrorCode, string>;

const LIFECYCLE_CODES = {
  LIFECYCLE_NOTIFY_UNAVAILABLE: 'the systemd notify addon (native/) cannot be found or loaded; the agent runs without sd_notify',
  LIFECYCLE_NOTIFY_FAILED: 'sending a notification to NOTIFY_SOCKET failed',
  LIFECYCLE_WATCHDOG_ENV_INVALID: 'WATCHDOG_USEC is not a positive integer; watchdog pings are disabled',
} as const satisfies Record<LifecycleErrorCode, string>;

const UPSTREAM_CODES = {
  UPSTREAM_TIMEOUT: 'no _reply to a property or event post arrived within its timeout',
  UPSTREAM_TOPIC_INVALID: "a plugin's custom-topic publish named a topic outside the device's /user/ space, or a wildcard",
} as const satisfies Record<UpstreamTimeoutError['code'] | TopicError['code'], string>;

const STATE_CODES = {
  PLUGIN_STATE_INVALID: "a plugin's ctx.state write named an empty or non-string key, or a value JSON cannot represent; nothing was written",
  PLUGIN_STATE_CLOSED: "a plugin's ctx.state write came after the agent closed its stores",
} as const satisfies Record<StateError['code'], string>;

const CONFIG_CODES = {
  CONFIG_INVALID: 'the configuration file or object breaks the schema; the message names the key, expected and received value',
} as const satisfies Record<ConfigError['code'], string>;

const REMOTE_CONFIG_CODES = {
  REMOTE_CONFIG_INVALID: 'a configuration get_reply or push lacks a field or has one of the wrong form (configId, url, sign, signMethod, configSize, getType)',
  REMOTE_CONFIG_TOO_LARGE: 'the configuration file is larger than remoteConfig.maxBytes (announced or while downloading)',
  REMOTE_CONFIG_DOWNLOAD_FAILED: 'the configuration file could not be downloaded within remoteConfig.downloadTimeoutMs (network error, HTTP status)',
  REMOTE_CONFIG_DIGEST_MISMATCH: "the downloaded file's SHA-256 differs from the announced sign; the file is not applied",
  REMOTE_CONFIG_APPLY_FAILED: "the plugin claiming config threw or missed remoteConfig.applyTimeoutMs",
} as const satisfies Record<RemoteConfigErrorCode, string>;

type ErrorClass = AgentErrorInfo['errorClass'];

/** The outbox's codes each have a class of their own (all `OutboxError`s). */
const OUTBOX_CLASSES = {
  OUTBOX_FULL: OutboxFullError,
  OUTBOX_DISK_FULL: OutboxDiskFullError,
  OUTBOX_STORAGE: OutboxStorageError,
  OUTBOX_CLOSED: OutboxClosedError,
  OUTBOX_DROPPED: OutboxDroppedError,
  OUTBOX_NOT_ATTACHED: OutboxNotAttachedError,
  OUTBOX_SEND_FAILED: OutboxSendError,
  OUTBOX_INVALID_MESSAGE: OutboxInvalidMessageError,
  OUTBOX_CONFIG: OutboxConfigError,
} as const satisfies Record<OutboxErrorCode, ErrorClass>;

/** The inbox's codes, each with its class (all `InboxError`s). */
const INBOX_CLASSES = {
  INBOX_CONFIG: InboxConfigError,
  INBOX_STORAGE: InboxStorageError,
  INBOX_CLOSED: InboxClosedError,
} as const satisfies Record<InboxErrorCode, ErrorClass>;

function rows<C extends string>(family: ErrorFamily, codes: Record<C, string>, classOf: (code: C) => ErrorClass): AgentErrorInfo[] {
  return (Object.entries(codes) as [C, string][]).map(([code, meaning]) => Object.freeze({ code, family, meaning, errorClass: classOf(code) }));
}

/** Every code the agent's own errors carry, grouped by family. */
export const AGENT_ERROR_TABLE: readonly AgentErrorInfo[] = Object.freeze([
  ...rows('CONFIG', CONFIG_CODES, () => ConfigError),
  ...rows('SESSION', SESSION_CODES, () => SessionError),
  ...rows('STORAGE', STORAGE_ERROR_CODES, (code) => (code === 'STORAGE_LOCKED' ? StorageLockedError : StorageError)),
  ...rows('OUTBOX', OUTBOX_ERROR_CODES, (code) => OUTBOX_CLASSES[code]),
  ...rows('INBOX', INBOX_ERROR_CODES, (code) => INBOX_CLASSES[code]),
  // Claim problems have a class of their own (a PluginError subclass); the other plugin-host codes are PluginErrors.
  ...rows('PLUGIN', PLUGIN_ERROR_CODES, (code) => (code === 'PLUGIN_CLAIM_INVALID' ? ClaimError : PluginError)),
  // ctx.state's refusals, as plugins see them (declared by the plugin API).
  ...rows('PLUGIN', STATE_CODES, () => StateError),
  ...rows('UPSTREAM', UPSTREAM_CODES, (code) => (code === 'UPSTREAM_TIMEOUT' ? UpstreamTimeoutError : TopicError)),
  ...rows('LIFECYCLE', LIFECYCLE_CODES, () => LifecycleError),
  ...rows('HEALTH', HEALTH_CODES, () => HealthError),
  ...rows('REMOTE_CONFIG', REMOTE_CONFIG_CODES, () => RemoteConfigError),
  ...rows('OTA', OTA_ERROR_CODES, () => OtaError),
  ...rows('GATEWAY', GATEWAY_ERROR_CODES, () => GatewayError),
]);

/** Every agent error code, as a type. */
export type AgentErrorCode = keyof typeof CONFIG_CODES | SessionErrorCode | StorageErrorCode | OutboxErrorCode | InboxErrorCode | PluginErrorCode | keyof typeof STATE_CODES | keyof typeof UPSTREAM_CODES | LifecycleErrorCode | HealthErrorCode | RemoteConfigErrorCode | OtaErrorCode | GatewayErrorCode;

const BY_CODE: ReadonlyMap<string, AgentErrorInfo> = new Map(AGENT_ERROR_TABLE.map((r) => [r.code, r]));

/** The row of `code`, or undefined when it is not one of the agent's codes. */
export function agentErrorInfo(code: string): AgentErrorInfo | undefined {
  return BY_CODE.get(code);
}

/**
 * True for an error carrying one of the agent's codes. By `code`, not `instanceof`: errors a plugin rethrows may
 * come from its own copy of the plugin API.
 */
export function isAgentError(err: unknown): err is Error & { code: AgentErrorCode } {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' && BY_CODE.has((err as { code: string }).code);
}
