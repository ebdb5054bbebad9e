/**
 * agent.config.json: its JSON Schema (defaults included) and the TypeScript shapes it validates to.
 * Every node carries an `expected` text, so that a validation error reads as one line naming the key:
 * `agent.config.json: broker.keepalive: expected integer in [30, 1200], received 10`.
 *
 * This schema is the one source of the keys, their defaults and their reload rule: each top-level key carries
 * `reload: 'live'` (applied again on SIGHUP) or `reload: 'restart'` (read once, at start), which agent/config/reload.ts
 * turns into the reload decision. The README's table of keys is written for people and checked against this schema
 * by test/agent-config-docs.test.ts (every key and every default must appear there).
 */
import { SIGN_METHODS, type SignMethod } from '../../thing-model/wire';
import type { LogUploadSection, RemoteConfigSection } from './channel-sections';
import { otaSchema, type OtaSection } from './ota-section';
import type { SecretSource } from './secret-source';
import { gatewaySchema, subDevicesSchema, type GatewaySection, type SubDeviceSection } from './gateway-section';

export type { LogUploadSection, RemoteConfigSection } from './channel-sections';
export type { OtaSection, OtaModuleSection, OtaVersionSource } from './ota-section';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Where the device secret comes from: exactly one of the three. */
export type DeviceSecretSource = SecretSource;

/** The device this agent speaks for, as written in the file. */
export interface DeviceSection extends DeviceSecretSource {
  productKey: string;
  deviceName: string;
  /** The `{cid}` part of the MQTT client id; defaults to `{productKey}.{deviceName}`. */
  clientId?: string;
}

/** Reconnect policy: exponential backoff with full jitter. */
export interface ReconnectSection {
  /** Ceiling of the first retry delay. */
  initialMs: number;
  /** Ceiling of every retry delay. */
  maxMs: number;
  /** A connection that lasts this long counts as stable: the backoff starts again from `initialMs`. */
  stableMs: number;
}

export interface BrokerSection {
  /** `mqtt://host:port` (securemode=3) or `mqtts://host:port` (TLS, securemode=2). */
  url: string;
  /** 4 = MQTT 3.1.1, 5 = MQTT 5.0. */
  protocolVersion: 4 | 5;
  /** Seconds, 30..1200 (docs/protocol/connecting.md, "Keep-alive"). */
  keepalive: number;
  /** PEM file of the CA that signed the broker's certificate (mqtts:// only). Relative to the config file. */
  caFile?: string;
  signMethod: SignMethod;
  /** MQTT 3.1.1 clean session / MQTT 5 clean start. */
  cleanSession: boolean;
  /** MQTT 5 Session Expiry Interval in seconds (0xFFFFFFFF = never). */
  sessionExpirySeconds?: number;
  /** How long to wait for CONNACK on one attempt. */
  connectTimeoutMs: number;
  reconnect: ReconnectSection;
}

export interface ThingModelSection {
  /** TSL JSON file, relative to the config file. */
  path: string;
  /** Reject numbers that are not `min + k·step`. */
  enforceStep: boolean;
  /** Accept structs with members missing. */
  partialStructs: boolean;
}

export interface RrpcSection {
  /** Default time the agent has to answer a synchronous call (RRPC, sync service), in ms. */
  budgetMs: number;
  /** How long before the budget an error reply is sent so that it still arrives; default 10 % of the budget (50..500). */
  marginMs?: number;
  /** Per sync service id. */
  services: Record<string, number>;
  /** Per custom RRPC topic. */
  topics: Record<string, number>;
}

/** One handler plugin. */
export interface HandlerSection {
  /** A built-in name (`property-store`, `system-info`) or a path, resolved against the config file's folder. */
  module: string;
  name?: string;
  options?: unknown;
}

/** How long handlers of asynchronous calls may run before the agent answers for them. */
export interface DeadlinesSection {
  /** Property sets and async services. */
  asyncMs: number;
  /** Custom-topic messages. */
  customTopicMs: number;
}

export interface HealthSection {
  enabled: boolean;
  host: string;
  port: number;
}

export interface UpstreamLimitsSection {
  maxPayloadBytes: number;
  /** Longest topic accepted, in bytes. */
  maxTopicLength: number;
  /** Upstream publishes per second (all kinds together); absent = no local limit. */
  maxMessagesPerSecond?: number;
}

/** `"reject"` refuses a message that does not fit; `{ dropOldestOf }` drops the oldest unsent messages of those classes. */
export type OutboxOverflow = 'reject' | { dropOldestOf: string[] };

/** The durable QoS 1 outbox (agent/outbox); keys mirror `OutboxOptions`. */
export interface OutboxSection {
  maxRows: number;
  maxBytes: number;
  overflow: OutboxOverflow;
  /** Time to live per message class (`reply`, `property`, `event`, `custom`, ...) in ms; classes absent never expire. */
  ttlMs: Record<string, number>;
  /** Most QoS 1 messages handed to the connection at once. */
  maxInflight: number;
  /** SQLite `synchronous`: `full` survives power loss, `normal` only process crashes. */
  synchronous: 'full' | 'normal';
  /** Posts that waited past the platform's window: sent as history posts, or dropped and counted. */
  history: { afterMs: number; policy: 'history' | 'drop' };
}

export interface ShutdownSection {
  /** How long in-flight handlers may run after a stop request before they are answered for. */
  drainTimeoutMs: number;
  /** How long to wait for outstanding PUBACKs before the connection is closed anyway. */
  disconnectTimeoutMs: number;
}

/** agent.config.json after validation, defaults filled in. Paths are still as written. */
export interface AgentConfigFile {
  $schema?: string;
  device: DeviceSection;
  broker: BrokerSection;
  thingModel: ThingModelSection;
  dataDir: string;
  rrpc: RrpcSection;
  deadlines: DeadlinesSection;
  /** Plugins' property and event posts: how long to wait for the platform's `_reply`. */
  upstream: { replyTimeoutMs: number };
  /** After a successful property set, post the new values (merged per window) so the cloud's shadow is current. */
  postAfterSet: { enabled: boolean; coalesceMs: number };
  /** NTP over MQTT (docs/protocol/ntp.md). */
  clock: { ntp: boolean; intervalMs: number; farOffMs: number };
  /** Desired values and the shadow (docs/protocol/desired-shadow.md). */
  deviceState: { desired: boolean; shadow: boolean };
  handlers: HandlerSection[];
  log: { level: LogLevel };
  health: HealthSection;
  limits: { upstream: UpstreamLimitsSection };
  outbox: OutboxSection;
  shutdown: ShutdownSection;
  remoteConfig: RemoteConfigSection;
  /** Static device tags (`site`, `firmware`, ...) posted after every connect (docs/protocol/tags.md). */
  tags: Record<string, string>;
  logUpload: LogUploadSection;
  /** Firmware and software updates (docs/ota.md). */
  ota: OtaSection;
  /** Sub-device sessions and pacing (docs/protocol/gateway.md). */
  gateway: GatewaySection;
  /** The devices behind this gateway. */
  subDevices: SubDeviceSection[];
}

type DeepPartial<T> = T extends (infer U)[] ? DeepPartial<U>[] : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/** What a caller may pass to `Agent.create` as an object: keys with defaults may be left out. */
export type AgentConfigInput = DeepPartial<AgentConfigFile> & {
  device: DeviceSection;
  broker: DeepPartial<BrokerSection> & { url: string };
  thingModel: DeepPartial<ThingModelSection> & { path: string };
};

const int = (min: number, max: number, dflt?: number) => ({
  type: 'integer',
  minimum: min,
  maximum: max,
  ...(dflt === undefined ? {} : { default: dflt }),
  expected: `integer in [${min}, ${max}]`,
});
const str = (expected: string, extra: Record<string, unknown> = {}) => ({ type: 'string', minLength: 1, expected, ...extra });
const bool = (dflt: boolean) => ({ type: 'boolean', default: dflt, expected: 'true or false' });
/** How a top-level key takes a new value on SIGHUP (agent/config/reload.ts). */
const restart = { reload: 'restart' } as const;
const live = { reload: 'live' } as const;
const section = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  type: 'object',
  expected: 'an object',
  additionalProperties: false,
  properties,
  ...extra,
});
/** RRPC budgets must end before the cloud's own timeout (RRpc `Timeout` is 1000..8000 ms). */
export const RRPC_BUDGET_MIN_MS = 100;
export const RRPC_BUDGET_MAX_MS = 8000;

/**
 * The agent's SQLite file under `dataDir` (outbox and inbox; `-wal` and `-shm` sit next to it). Here rather than
 * with the stores so that `alink-agent doctor` finds it by the same name without loading SQLite.
 */
export const AGENT_DB_FILE = 'agent.db';

const budgets = (what: string) => ({
  type: 'object',
  default: {},
  expected: `an object mapping ${what} to milliseconds`,
  additionalProperties: int(RRPC_BUDGET_MIN_MS, RRPC_BUDGET_MAX_MS),
});


export const agentConfigSchema = section(
  {
    $schema: { type: 'string', expected: 'a string' },
    device: section(
      {
        productKey: str('a product key of letters and digits', { pattern: '^[A-Za-z0-9]+$' }),
        deviceName: str('4..32 characters of letters, digits, - _ @ . :', { pattern: '^[A-Za-z0-9_@.:-]{4,32}$' }),
        clientId: str('1..64 characters without "|" or ","', { maxLength: 64, pattern: '^[^|,]+$' }),
        secret: str('the device secret'),
        secretEnv: str('the name of an environment variable', { pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }),
        secretFile: str('the path of a file holding the device secret'),
      },
      { required: ['productKey', 'deviceName'], ...restart },
    ),
    broker: section(
      {
        url: str('an mqtt:// or mqtts:// URL such as "mqtt://127.0.0.1:1883"'),
        protocolVersion: { enum: [4, 5], default: 4, expected: '4 (MQTT 3.1.1) or 5 (MQTT 5.0)' },
        keepalive: int(30, 1200, 300),
        caFile: str('the path of a PEM CA certificate file'),
        signMethod: { enum: [...SIGN_METHODS], default: 'hmacsha256', expected: 'one of hmacsha256, hmacsha1, hmacmd5' },
        cleanSession: bool(true),
        sessionExpirySeconds: int(0, 0xffffffff),
        connectTimeoutMs: int(1000, 120_000, 10_000),
        reconnect: section(
          {
            initialMs: int(10, 600_000, 1000),
            maxMs: int(10, 3_600_000, 60_000),
            stableMs: int(100, 3_600_000, 10_000),
          },
          { default: {} },
        ),
      },
      { required: ['url'], ...restart },
    ),
    thingModel: section(
      {
        path: str('the path of a TSL JSON file'),
        enforceStep: bool(true),
        partialStructs: bool(false),
      },
      { required: ['path'], ...restart },
    ),
    dataDir: str('a directory path', { default: 'data', ...restart }),
    rrpc: section(
      {
        budgetMs: int(RRPC_BUDGET_MIN_MS, RRPC_BUDGET_MAX_MS, 4000),
        marginMs: int(0, 2000),
        services: budgets('sync service ids'),
        topics: budgets('custom RRPC topics'),
      },
      { default: {}, ...restart },
    ),
    deadlines: section(
      {
        asyncMs: int(100, 3_600_000, 30_000),
        customTopicMs: int(100, 3_600_000, 30_000),
      },
      { default: {}, ...restart },
    ),
    upstream: section({ replyTimeoutMs: int(100, 600_000, 10_000) }, { default: {}, ...restart }),
    postAfterSet: section({ enabled: bool(true), coalesceMs: int(0, 1000, 0) }, { default: {}, ...restart }),
    clock: section({ ntp: bool(true), intervalMs: int(0, 604_800_000, 3_600_000), farOffMs: int(0, 86_400_000, 2000) }, { default: {}, ...restart }),
    deviceState: section({ desired: bool(true), shadow: bool(true) }, { default: {}, ...restart }),
    handlers: {
      type: 'array',
      default: [],
      expected: 'a list of {module, name?, options?}',
      // the plugin host applies new options and refuses added, removed or re-moduled plugins itself
      ...live,
      items: section(
        {
          module: str('a built-in plugin name, a package name or a path relative to the config file'),
          name: str('a plugin instance name'),
          options: { expected: 'any JSON value' },
        },
        { expected: 'an object {module, name?, options?}', required: ['module'] },
      ),
    },
    log: section(
      {
        level: { enum: [...LOG_LEVELS], default: 'info', expected: `one of ${LOG_LEVELS.join(', ')}` },
      },
      { default: {}, ...live },
    ),
    health: section(
      {
        enabled: bool(false),
        host: str('a host name or IP address', { default: '127.0.0.1' }),
        port: int(0, 65535, 9464),
      },
      { default: {}, ...restart },
    ),
    limits: section(
      {
        upstream: section(
          {
            maxPayloadBytes: int(1, 16 * 1024 * 1024, 256 * 1024),
            maxTopicLength: int(16, 65535, 127),
            maxMessagesPerSecond: int(1, 1_000_000),
          },
          { default: {} },
        ),
      },
      { default: {}, ...restart },
    ),
    outbox: section(
      {
        maxRows: int(1, 100_000_000, 100_000),
        maxBytes: int(1024, 2 ** 40, 64 * 1024 * 1024),
        overflow: {
          default: { dropOldestOf: ['property', 'event'] },
          expected: '"reject" or {"dropOldestOf": [message classes]}',
          oneOf: [
            { const: 'reject', expected: '"reject" or {"dropOldestOf": [message classes]}' },
            section(
              {
                dropOldestOf: {
                  type: 'array',
                  minItems: 1,
                  expected: 'a non-empty list of message classes such as "property", "event", "custom", "reply"',
                  items: str('a message class'),
                },
              },
              { expected: '"reject" or {"dropOldestOf": [message classes]}', required: ['dropOldestOf'] },
            ),
          ],
        },
        ttlMs: {
          type: 'object',
          default: { reply: 300_000 },
          expected: 'an object mapping message classes to milliseconds',
          additionalProperties: int(1, 31_536_000_000),
        },
        maxInflight: int(1, 65_000, 1000),
        synchronous: { enum: ['full', 'normal'], default: 'full', expected: '"full" or "normal"' },
        // Posts older than this when (re)sent go as history posts: the platform takes ordinary ones up to 24 h old (docs/protocol/history-post.md).
        history: section({ afterMs: int(1000, 86_400_000, 82_800_000), policy: { enum: ['history', 'drop'], default: 'history', expected: '"history" or "drop"' } }, { default: {} }),
      },
      { default: {}, ...restart },
    ),
    shutdown: section(
      {
        drainTimeoutMs: int(0, 600_000, 5000),
        disconnectTimeoutMs: int(0, 600_000, 2000),
      },
      { default: {}, ...restart },
    ),
    remoteConfig: section(
      {
        fetchOnConnect: bool(true),
        maxBytes: int(1, 64 * 1024 * 1024, 1024 * 1024),
        downloadTimeoutMs: int(100, 600_000, 30_000),
        applyTimeoutMs: int(100, 600_000, 30_000),
      },
      { default: {}, ...restart },
    ),
    tags: {
      type: 'object',
      default: {},
      expected: 'an object of tag keys (2..30 letters, digits, _ - ., not starting with a digit) to string values',
      propertyNames: { pattern: '^[A-Za-z_.-][A-Za-z0-9_.-]{1,29}$' },
      additionalProperties: str('a tag value of at most 128 characters', { maxLength: 128 }),
      maxProperties: 200,
      ...restart,
    },
    logUpload: section(
      {
        fetchOnConnect: bool(true),
        level: { enum: ['fatal', 'error', 'warn', 'info', 'debug'], default: 'warn', expected: 'one of fatal, error, warn, info, debug' },
        maxPerMinute: int(1, 10_000, 60),
        maxLineBytes: int(64, 4096, 4096),
        batchMs: int(0, 60_000, 1000),
      },
      { default: {}, ...restart },
    ),
    ota: { ...otaSchema, ...restart },
    gateway: { ...gatewaySchema, ...restart },
    subDevices: { ...subDevicesSchema, ...restart },
  },
  { required: ['device', 'broker', 'thingModel'] },
);
