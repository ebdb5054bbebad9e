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
 * This module is the package's main entry: a plugin in its own repository imports it as `'alink-agent'`.
 * See `handlers/README.md` for a walk-through, `docs/plugins.md` for the contract (module resolution and formats,
 * claims, deadlines, error codes, custom-topic replies) and `handlers/examples/calibration.ts` for a complete plugin.
 */
import type { Logger } from 'pino';
import type { CompiledThingModel } from '../../thing-model';
import type { DeviceIdentity } from '../../thing-model/wire';
import type { PluginState } from './state';
import type { GatewayApi, SubDeviceClaim } from './gateway';
import type { OtaClaim } from './ota';
import type { Upstream } from './upstream';

export type { CompiledThingModel } from '../../thing-model';
export { AlinkError, HandlerError, ValidationError, ThrottleError, CloudReplyError, isAlinkError } from '../../thing-model/codes';
export * from './upstream';
export * from './state';
export * from './gateway';
export * from './ota';

// ---- Plugins ----

/** A JSON schema (draft-07 subset ajv understands). */
export type JsonSchema = Record<string, unknown>;

/** The device this agent speaks for (the wire helpers' type: product key and device name). */
export type { DeviceIdentity } from '../../thing-model/wire';

/** What kind of inbound message a handler is answering. */
export type CallKind = 'propertySet' | 'propertyGet' | 'service' | 'rrpc' | 'customTopic' | 'raw' | 'config';

/**
 * Given to every handler call. A handler should finish by `deadline`; when it passes, the agent answers for
 * it (an error reply, code 400 "deadline exceeded after N ms"), aborts `signal` and drops the late result.
 */
export interface CallContext {
  readonly kind: CallKind;
  /** The Alink request id, or the RRPC message id for raw and custom-topic RRPC; '' for custom topics. */
  readonly id: string;
  /**
   * The TSL service identifier of a service call (async, or sync over RRPC); undefined for other calls. Lets one
   * handler claimed as `'*'` answer every service.
   */
  readonly service?: string | undefined;
  /**
   * The sub-device this call is for (a driver's `subDevices` handlers, docs/plugins.md "Gateway"); undefined for a
   * call to the gateway's own Thing Model, so a plugin for the gateway itself never sees it set.
   */
  readonly device?: DeviceIdentity | undefined;
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
   *
   * **The contract: a 200 reply means the new state is durable.** The agent sends `set_reply` only after
   * `apply` returned or its promise resolved (for a set spanning several plugins, after every one of them did),
   * so before resolving, a plugin must have made the new values hold across a kill -9 of the agent the next
   * instant: stored them durably (`await ctx.state.put(values)` does exactly that, at no extra fsync), or
   * written them to the hardware that keeps them. Resolving earlier (a save scheduled for later) breaks the
   * promise the 200 makes to the cloud. In turn the agent guarantees: a request is answered at most once per
   * application; the answer is recorded in the inbox (committed before the reply leaves, in the same group
   * commit as the outbox's batch) and a redelivery of an answered request is answered from there without
   * calling `apply` again; a request that was not answered before a crash (kill -9, power cut before the
   * reply's fsync) is applied again when the platform redelivers it, so `apply` must be idempotent (setting a
   * value twice leaves the same state). An `apply` still running at its deadline gets an error reply and its
   * late success is dropped: the values may be applied although the cloud heard 400, never the other way round.
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
 *
 * The contract is the one of {@link PropertyClaim.apply}: the reply (200 with the output) leaves only after the
 * handler resolved, so before resolving, the handler must have done its side effect (or stored durably, e.g.
 * with `ctx.state.put`, what it must remember). An async service call that was answered is not run again on
 * redelivery (the inbox answers it); one that was not answered before a crash runs again, so a handler whose
 * effect must not happen twice records it first (in `ctx.state`, keyed by `call.id`) and checks it. Sync calls
 * over RRPC are never redelivered.
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
 * Custom-format (raw) data (docs/protocol/raw-data.md): what a plugin of a product whose data format is
 * "custom" declares. At most one plugin may claim it.
 */
export interface RawClaim {
  /**
   * Bytes the platform's parse script made from a cloud request (property set, service call), on
   * `thing/model/down_raw` (`call.kind` 'raw') or, for a sync service, over RRPC on
   * `/ext/rrpc/{id}/sys/{pk}/{dn}/thing/model/down_raw` (`call.kind` 'rrpc', the RRPC budget as deadline).
   * Return the answer bytes: they go out on `down_raw_reply` (or the RRPC topic). Return nothing to send no
   * answer. A throw or a missed deadline is logged and answers nothing: the agent cannot encode an error in
   * the product's own format, so the cloud sees a timeout.
   */
  handle(payload: Buffer, call: CallContext): string | Buffer | void | Promise<string | Buffer | void>;
  /** The platform's answer to an `up_raw` publish (bytes made by the parse script), on `up_raw_reply`. */
  reply?(payload: Buffer): void;
}

/** A remote configuration file (docs/protocol/remote-config.md), downloaded and its SHA-256 checked. */
export interface ConfigFile {
  configId: string;
  /** The file's bytes, exactly as downloaded; their SHA-256 matched the platform's `sign`. */
  content: Buffer;
  /** `get`: the answer to the agent's request at connect; `push`: sent by the platform. */
  source: 'get' | 'push';
}

/**
 * Remote configuration: the plugin that applies the product's configuration file. At most one plugin may claim
 * it. The agent asks for the file after every connect and takes pushes; it downloads the file (bounded in size
 * and time) and checks its digest before `apply` sees it. `call.deadline` bounds `apply`
 * (`remoteConfig.applyTimeoutMs`); throw to refuse the file (the push is answered with 400 and the message).
 */
export interface ConfigClaim {
  apply(file: ConfigFile, call: CallContext): void | Promise<void>;
}

/**
 * What `setup` returns: the claims and the lifecycle hooks. Handlers are plain functions (closures over
 * `ctx` and the plugin's state); they are never called before `start` resolved or after `stop` began.
 */
export interface PluginInstance<O = Record<string, unknown>> {
  properties?: PropertyClaim;
  /**
   * Key = TSL service identifier, or `'*'` for every service of the Thing Model that no plugin claims by name
   * (a gateway driver forwarding every call; at most one plugin may claim `'*'`). A `'*'` handler reads the
   * service's identifier from `call.service`; its input and output are validated against that service's TSL.
   */
  services?: Record<string, ServiceHandler>;
  /**
   * Key = topic filter relative to `/{productKey}/{deviceName}/user/` (`"echo"`, `"cmd/+"`, `"log/#"`) or in
   * full. An exact filter wins over wildcards; among wildcards, the first claimed wins.
   */
  customTopics?: Record<string, CustomTopicHandler | CustomTopicClaim>;
  rrpc?: RrpcClaims;
  /** Custom-format (raw) data of this product. */
  raw?: RawClaim;
  /** The product's remote configuration file. */
  config?: ConfigClaim;
  /** Sub-devices this plugin drives and the handlers for their traffic (a gateway driver; see {@link SubDeviceClaim}). */
  subDevices?: SubDeviceClaim;
  /** Firmware and software modules this plugin versions and installs (docs/ota.md; see {@link OtaClaim}). */
  ota?: OtaClaim;
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
  /**
   * This plugin's key-value state in the agent's SQLite file (durable, group-committed), or an in-memory map
   * when the agent runs without stores. Usable from `setup` on. See {@link PluginState}.
   */
  readonly state: PluginState;
  /** The read-write properties this plugin ended up owning (resolves a `'*'` claim); known from `start` on. */
  ownedProperties(): readonly string[];
  /**
   * Sub-devices behind this gateway (docs/plugins.md "Gateway"): add, remove, mark reachable, post for each. Usable
   * from `start` on; throws before.
   */
  readonly gateway: GatewayApi;
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
