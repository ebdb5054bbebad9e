/**
 * The plugin API, gateway part: what a driver plugin (Modbus meters, BLE sensors, PLCs behind the gateway) declares
 * and uses to speak for sub-devices over the gateway's one connection. Re-exported by `handlers/api`.
 * See docs/protocol/gateway.md for the protocol and docs/plugins.md for the contract.
 *
 * A plugin for the gateway itself needs none of this and keeps working unchanged.
 */
import type { CompiledThingModel } from '../../thing-model';
import type { DeviceIdentity } from '../../thing-model/wire';
import type { CustomTopicHandler, CustomTopicClaim, PropertyClaim, RawClaim, RrpcClaims, ServiceHandler } from './index';
import type { OtaClaim } from './ota';
import type { PostHandle, PostOptions, Upstream } from './upstream';

/**
 * Where a sub-device stands, as the agent sees it.
 * - `pending`: known locally, not yet in the cloud's topology (or being registered / added).
 * - `loggingIn`: topology in place, login sent or queued under the platform's rate limit.
 * - `online`: logged in; its subscriptions are in place; traffic flows.
 * - `offline`: logged out (removed from the driver's view, reported lost, or the gateway is disconnected).
 * - `disabled`: the cloud disabled it; nothing is routed until it is enabled again.
 * - `failed`: the platform refused it for a reason a retry cannot fix (bad secret, no such device); `reason` says which.
 */
export type SubDeviceState = 'pending' | 'loggingIn' | 'online' | 'offline' | 'disabled' | 'failed';

/** A sub-device as a driver declares it at run time (a Modbus scan that found a meter). */
export interface SubDeviceSpec extends DeviceIdentity {
  /**
   * The sub-device's DeviceSecret. Omit it to have the agent obtain one with `thing.sub.register` (the product must
   * allow dynamic registration); the secret obtained is kept in the agent's SQLite file and never logged.
   */
  deviceSecret?: string;
}

/** One sub-device's status. */
export interface SubDeviceStatus extends DeviceIdentity {
  readonly state: SubDeviceState;
  /** Why it is `failed`, `disabled` or `offline` (an Alink code and message, or the driver's own words). */
  readonly reason?: string;
  /** The plugin instance that owns it, if any. */
  readonly owner?: string;
}

/**
 * What a driver plugin declares in its instance (`PluginInstance.subDevices`): which sub-devices it owns and the
 * handlers for their traffic. Handlers are those of the gateway's own claims; `call.device` names the sub-device
 * a call is for. Each call is validated against that sub-device's product TSL before the handler sees it.
 */
export interface SubDeviceClaim {
  /** Product keys whose sub-devices this plugin owns (every sub-device of these products, configured or added). */
  products?: readonly string[];
  /** Individual sub-devices this plugin owns (wins over another plugin's `products` claim). */
  devices?: readonly DeviceIdentity[];
  properties?: PropertyClaim;
  /** Key = TSL service identifier of the sub-device's product, or `'*'`. */
  services?: Record<string, ServiceHandler>;
  /** Key = topic filter relative to `/{subProductKey}/{subDeviceName}/user/`. */
  customTopics?: Record<string, CustomTopicHandler | CustomTopicClaim>;
  rrpc?: RrpcClaims;
  raw?: RawClaim;
  /**
   * The OTA modules of the owned sub-devices that this plugin versions and installs (docs/ota.md, "Sub-devices"):
   * each must be in `gateway.otaModules` of the product with `version: {"plugin": "<this plugin's name>"}`. The
   * agent downloads and verifies on the sub-device's behalf; `version` and `install` get the sub-device as
   * `device` / `info.device`.
   */
  ota?: OtaClaim;
  /** Told of every state change of a sub-device this plugin owns (disabled by the cloud, deleted, back online...). */
  onStateChange?(device: SubDeviceStatus, previous: SubDeviceState | undefined): void;
}

/** What a plugin gets as `ctx.gateway`: sub-devices at run time. Usable from `start` on. */
export interface GatewayApi {
  /**
   * Adds a sub-device (persisted; topology is added and the device logged in when the gateway is connected).
   * Resolves once the agent has it durably on record, not when it is online: watch `onStateChange` or `status`.
   * Adding one that exists updates its secret.
   */
  add(device: SubDeviceSpec): Promise<SubDeviceStatus>;
  /** Logs the sub-device out, deletes its topology and forgets it. */
  remove(device: DeviceIdentity): Promise<void>;
  /**
   * The driver's view: `false` = the device is lost (unplugged, not answering): log it out; `true` = found again:
   * log it in. The agent keeps the device on record either way.
   */
  setReachable(device: DeviceIdentity, reachable: boolean): Promise<void>;
  /** One sub-device's status; undefined when the agent does not know it. */
  status(device: DeviceIdentity): SubDeviceStatus | undefined;
  /** Every sub-device the agent knows. */
  list(): readonly SubDeviceStatus[];
  /** Posts, events and custom publishes on behalf of one sub-device: the same outbox and guarantees as `ctx.upstream`. */
  upstream(device: DeviceIdentity): Upstream;
  /** The compiled Thing Model of a sub-device product the agent is configured with. */
  model(productKey: string): CompiledThingModel | undefined;
  /**
   * Several sub-devices' properties and events in one `thing.event.property.pack.post` on the gateway's topic
   * (docs/protocol/gateway-traffic.md, "Pack post"): at most 20 sub-devices, 200 properties and 20 events per message,
   * each checked against its device's Thing Model before anything is sent (`ValidationError` naming the entry). The
   * platform takes or refuses the whole message. Same outbox and handle as `ctx.upstream`'s posts.
   */
  postPack(entries: readonly PackPostEntry[], opts?: PostOptions): PostHandle;
}

/** One sub-device's part of a pack post. `time` (epoch ms) defaults to the agent's corrected clock. */
export interface PackPostEntry {
  device: DeviceIdentity;
  properties?: Record<string, unknown>;
  /** Key = event identifier of the device's product; value = the event's output parameters. */
  events?: Record<string, Record<string, unknown>>;
  time?: number;
}
