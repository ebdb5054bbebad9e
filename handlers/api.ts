/**
 * The public plugin API. A plugin is a value with a `name`, an optional JSON schema for its options and a
 * `setup(ctx)` function that returns an instance: the claims (which properties, services, custom topics and
 * RRPC topics it handles, with their handlers) and optional `start`/`stop`/`reload` hooks.
 *
 * Claims are declared by `setup` and checked when the agent loads its plugins, before it connects: the agent
 * has to subscribe to them, and two plugins claiming the same identifier, or a claim naming an identifier the
 * Thing Model lacks, stop the agent at start with an error naming them.
 *
 * Lifecycle: `setup` (declare; no I/O that needs undoing) → `start` (acquire resources; `ctx.upstream` usable)
 * → handlers called → `stop` (release; `ctx.signal` is aborted first). The loader enforces time limits on
 * `setup`, `start`, `stop` and `reload`.
 *
 * Plugins import from this module only: it declares every type a plugin sees and the errors a plugin may throw
 * or catch, and imports nothing of the agent (only `thing-model/`), so the agent depends on it and not the
 * other way round.
 * See `handlers/README.md` for a walk-through and `handlers/examples/calibration.ts` for a complete plugin.
 */
import type { Logger } from 'pino';
import type { CompiledThingModel } from '../thing-model';
import type { DeviceIdentity } from '../thing-model/wire';

export type { CompiledThingModel } from '../thing-model';
export { AlinkError, HandlerError, ValidationError, ThrottleError, CloudReplyError, isAlinkError } from '../thing-model/codes';

// ---- Messages and the upstream API ----

/** MQTT 5 properties the agent reads on inbound messages and may set on outbound ones. */
export interface MessageProperties {
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: Record<string, string | string[]>;
  contentType?: string;
}

/** What a publish returns once the agent has accepted the message. */
export interface PublishReceipt {
  /** Resolves when the broker acknowledged the message (PUBACK); for QoS 0, when it was written. */
  acked: Promise<void>;
}

/** A property value with the time it was sampled (docs/protocol/payloads.md, "Property post"). */
export interface TimedValue<V = unknown> {
  value: V;
  /** Epoch ms when the value was sampled; at most 24 h in the future of the upload. */
  time?: number;
}

/** Options of a property or event post. */
export interface PostOptions {
  /** Defaults to 1: a post is durable through the outbox when the agent has one. */
  qos?: 0 | 1;
  /** How long to wait for the platform's `_reply`; defaults to the agent's `upstream.replyTimeoutMs`. */
  timeoutMs?: number;
}

/** Options of an event post. */
export interface EventPostOptions extends PostOptions {
  /** Epoch ms when the event happened; defaults to the agent's NTP-corrected now. */
  time?: number;
}

/** A batch post: per identifier, a list of timed values (properties) or timed output members (events). */
export interface BatchPost {
  properties?: Record<string, { value: unknown; time: number }[]>;
  events?: Record<string, { value: Record<string, unknown>; time: number }[]>;
}

/** The platform's successful answer to a post. A non-200 answer rejects with `CloudReplyError` instead. */
export interface CloudReply {
  /** The request id (decimal string) this answers. */
  id: string;
  code: 200;
  data: unknown;
  message?: string;
}

/** Options of a custom-topic publish. */
export interface CustomPublishOptions {
  /** Defaults to 0. QoS 2 is not supported by the platform. */
  qos?: 0 | 1;
  /** MQTT 5 properties (response topic, correlation data, user properties, content type). */
  properties?: MessageProperties;
}

/**
 * What plugins may send upstream. Every call validates against the Thing Model first and rejects with a
 * `ValidationError` (code 460, `errors` naming each field) before anything is published.
 */
export interface Upstream {
  /**
   * Posts property values on `thing/event/property/post` (`sys.ack: 1`) and resolves with the platform's
   * `post_reply`. Each value is either the bare value or `{ value, time }`.
   * Rejects with `ValidationError` (bad values), `CloudReplyError` (non-200 reply), `UpstreamTimeoutError`
   * (no reply in time; the pending entry is removed) or the uplink's own error (publish refused).
   */
  postProperties(values: Record<string, unknown>, opts?: PostOptions): Promise<CloudReply>;
  /**
   * Posts an event (`thing/event/{eventId}/post`) whose `value` holds the event's output members, and resolves
   * with the platform's `post_reply`. Rejects like `postProperties`.
   */
  postEvent(eventId: string, value: Record<string, unknown>, opts?: EventPostOptions): Promise<CloudReply>;
  /**
   * Posts many timestamps of this device's properties and events in one message
   * (`thing/event/property/batch/post`, docs/protocol/sdk-compat.md §4): every entry is checked against the
   * Thing Model first (a bad one rejects the whole batch with `ValidationError`), and the platform answers all or
   * nothing. Resolves with its `post_reply`; rejects like `postProperties`.
   */
  postBatch(batch: BatchPost, opts?: PostOptions): Promise<CloudReply>;
  /**
   * The agent's time, epoch ms: the system clock corrected by NTP once connected (docs/protocol/ntp.md). Use it
   * for `time` fields; a gateway that booted with a wrong clock still stamps correct times.
   */
  now(): number;
  /**
   * Publishes on a custom topic of this device: either the part after `/{productKey}/{deviceName}/user/`
   * (`"status"`) or the full topic. Resolves when the uplink accepted the message.
   */
  publish(topic: string, payload: string | Buffer, opts?: CustomPublishOptions): Promise<PublishReceipt>;
}

/**
 * No `_reply` arrived within the timeout. The pending entry has been removed; a late reply is ignored.
 * Code `UPSTREAM_TIMEOUT`.
 */
export class UpstreamTimeoutError extends Error {
  override readonly name = 'UpstreamTimeoutError';
  readonly code = 'UPSTREAM_TIMEOUT';
  constructor(
    readonly requestId: string,
    readonly topic: string,
    readonly timeoutMs: number,
  ) {
    super(`no reply to ${topic} (id ${requestId}) within ${timeoutMs} ms`);
  }
}

/**
 * A custom-topic publish named a topic outside this device's `/{productKey}/{deviceName}/user/` space.
 * Code `UPSTREAM_TOPIC_INVALID`.
 */
export class TopicError extends Error {
  override readonly name = 'TopicError';
  readonly code = 'UPSTREAM_TOPIC_INVALID';
}

// ---- Plugins ----

/** A JSON schema (draft-07 subset ajv understands). */
export type JsonSchema = Record<string, unknown>;

/** The device this agent speaks for (the wire helpers' type: product key and device name). */
export type { DeviceIdentity } from '../thing-model/wire';

/** What kind of inbound message a handler is answering. */
export type CallKind = 'propertySet' | 'propertyGet' | 'service' | 'rrpc' | 'customTopic';

/**
 * Given to every handler call. A handler should finish by `deadline`; when it passes, the agent answers for
 * it (an error reply, code 400 "deadline exceeded after N ms"), aborts `signal` and drops the late result.
 */
export interface CallContext {
  readonly kind: CallKind;
  /** The Alink request id, or the RRPC message id for raw and custom-topic RRPC; '' for custom topics. */
  readonly id: string;
  /** Epoch ms by which the answer must be ready. */
  readonly deadline: number;
  /** Aborted when the deadline passes or the agent shuts down. Pass it to fetch, timers, child processes. */
  readonly signal: AbortSignal;
  /** The plugin's logger. */
  readonly logger: Logger;
}

/**
 * A property-set claim. `V` may be a generated type (`Partial<WritableProperties>` from
 * `alink-agent tsl types`).
 */
export interface PropertyClaim<V = Record<string, unknown>> {
  /**
   * Read-write property identifiers, or `'*'` for every read-write property no other plugin claims (what the
   * built-in property store does; at most one plugin may claim `'*'`).
   */
  ids: readonly string[] | '*';
  /**
   * Applies validated property values: only the identifiers this plugin claimed, already checked against the
   * Thing Model (type, range, step, enum, length, struct members). Throw a `HandlerError` (400 or a
   * device-defined 100000–110000 code) to refuse; the whole request then gets that code.
   */
  apply(values: V, call: CallContext): void | Promise<void>;
  /**
   * Optional: the current values of `ids` (a subset of the identifiers this plugin owns), for the platform's
   * property get (`thing.service.property.get`). Leave an identifier out when it has no value yet; the reply
   * then omits it. Values are checked against the Thing Model before they are sent.
   */
  get?(ids: readonly string[], call: CallContext): Partial<V> | Promise<Partial<V>>;
}

// Method syntax makes the parameter bivariant, so handlers typed with generated interfaces fit the claim maps.
type Bivariant<I, O> = { handler(input: I, call: CallContext): O | void | Promise<O | void> }['handler'];

/**
 * Handles one service call (async on `thing/service/{id}`, or sync over RRPC). `input` has been validated
 * against the service's `inputData`. The returned object is validated against `outputData` before it is sent
 * (an invalid output is answered with 400 naming the field, and logged as the plugin's bug); return nothing
 * for services without output. Type it with the generated `<Service>Input`/`<Service>Output` interfaces.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ServiceHandler<I = Record<string, any>, O = object> = Bivariant<I, O>;

/**
 * Service handlers typed from a generated `Services` map (`{ Calibrate: { input; output } }`):
 * `const services: TypedServices<Services> = { Calibrate: async (input) => ({ ... }) }`.
 */
export type TypedServices<S extends { [K in keyof S]: { input: unknown; output: unknown } }> = {
  [K in keyof S]?: ServiceHandler<S[K]['input'], S[K]['output']>;
};

/** A message on a custom topic (`/{productKey}/{deviceName}/user/...`). */
export interface CustomMessage {
  /** The full topic. */
  topic: string;
  /** The part after `/{productKey}/{deviceName}/user/`. */
  suffix: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  /** MQTT 5 only: where the sender wants the answer. */
  responseTopic?: string;
  /** MQTT 5 only: echoed on the answer. */
  correlationData?: Buffer;
  /** MQTT 5 only. */
  userProperties?: Record<string, string | string[]>;
  contentType?: string;
}

/**
 * An answer to a custom-topic message. It is published on the request's MQTT 5 Response Topic with the same
 * Correlation Data; without a Response Topic (MQTT 3.1.1) there is nowhere to send it and it is dropped.
 */
export interface CustomReply {
  payload: string | Buffer;
  userProperties?: Record<string, string | string[]>;
  contentType?: string;
  /** Defaults to the request's QoS (at most 1). */
  qos?: 0 | 1;
}

export type CustomTopicHandler = (msg: CustomMessage, call: CallContext) => CustomReply | void | Promise<CustomReply | void>;

/** A custom-topic claim with its subscription QoS (default 1). */
export interface CustomTopicClaim {
  qos?: 0 | 1;
  handler: CustomTopicHandler;
}

/** A raw RRPC request (`/sys/.../rrpc/request/{messageId}`) or a custom-topic RRPC (`/ext/rrpc/{messageId}/{topic}`). */
export interface RrpcRequest {
  /** The platform's RRPC message id, from the topic. */
  messageId: string;
  /** The topic the request arrived on. */
  topic: string;
  /** For custom-topic RRPC, the custom topic (with its leading slash). */
  customTopic?: string;
  /** The request bytes (RRpc's RequestBase64Byte, decoded). */
  payload: Buffer;
}

/** Answers an RRPC with bytes (sent at QoS 0 on the response topic). */
export type RrpcHandler = (req: RrpcRequest, call: CallContext) => string | Buffer | Promise<string | Buffer>;

/** RRPC claims. */
export interface RrpcClaims {
  /** Payloads on `/rrpc/request/+` that are not Alink service requests. At most one plugin may claim it. */
  raw?: RrpcHandler;
  /**
   * Custom-topic RRPC: key = custom topic, relative to `/{productKey}/{deviceName}/user/` or in full
   * (`/a1GwDemo01/gw-001/user/get`). The device must connect with `ext=1` for the platform to use it.
   */
  topics?: Record<string, RrpcHandler>;
}

/**
 * What `setup` returns: the claims and the lifecycle hooks. Handlers are plain functions (closures over
 * `ctx` and the plugin's state); they are never called before `start` resolved or after `stop` began.
 */
export interface PluginInstance<O = Record<string, unknown>> {
  properties?: PropertyClaim;
  /** Key = TSL service identifier. */
  services?: Record<string, ServiceHandler>;
  /**
   * Key = topic filter relative to `/{productKey}/{deviceName}/user/` (`"echo"`, `"cmd/+"`, `"log/#"`) or in
   * full. An exact filter wins over wildcards; among wildcards, the first claimed wins.
   */
  customTopics?: Record<string, CustomTopicHandler | CustomTopicClaim>;
  rrpc?: RrpcClaims;
  /** Acquire resources. `ctx.upstream` is usable from here on. */
  start?(ctx: PluginContext<O>): void | Promise<void>;
  /** Release resources. `ctx.signal` is already aborted. */
  stop?(): void | Promise<void>;
  /**
   * New options from a configuration reload (SIGHUP), already validated. Without this hook the loader stops
   * the instance, sets it up again with the new options and starts it (its claims must not change).
   */
  reload?(options: O): void | Promise<void>;
}

/** What a plugin gets from the agent. One per plugin instance. */
export interface PluginContext<O = Record<string, unknown>> {
  /** The plugin's instance name (config `name`, else the plugin's own `name`). */
  readonly name: string;
  /** Validated options, schema defaults applied. Replaced on reload. */
  readonly options: O;
  /** A pino child logger carrying `plugin: name`. */
  readonly logger: Logger;
  /** A directory for this plugin's files (`{agent dataDir}/plugins/{name}`), created before `setup`. */
  readonly dataDir: string;
  readonly model: CompiledThingModel;
  readonly identity: DeviceIdentity;
  /** Usable from `start` on; throws before. */
  readonly upstream: Upstream;
  /** Aborted when the plugin stops. */
  readonly signal: AbortSignal;
  /** The read-write properties this plugin ended up owning (resolves a `'*'` claim); known from `start` on. */
  ownedProperties(): readonly string[];
}

/** A plugin: what a module exports (as `default`, `plugin`, or the module itself). */
export interface AlinkPlugin<O = Record<string, unknown>> {
  /** Default instance name; also how errors name the plugin. */
  name: string;
  /** JSON schema of the options, checked with ajv when the agent starts (defaults applied). */
  optionsSchema?: JsonSchema;
  /** Limits on `setup`+`start` and on `stop`; the loader's defaults apply when absent. */
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
  setup(ctx: PluginContext<O>): PluginInstance<O> | Promise<PluginInstance<O>>;
}

/** Identity function that gives a plugin literal its types. */
export function definePlugin<O = Record<string, unknown>>(plugin: AlinkPlugin<O>): AlinkPlugin<O> {
  return plugin;
}
