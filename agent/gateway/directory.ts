/**
 * The contract between the gateway's two halves (docs/protocol/gateway.md): the sessions side (config, topology,
 * registration, login, `/ext/error`, notifications; owns the records) and the traffic side (routing each sub-device's
 * cloud traffic to its owner, validated against its product's TSL; posting on its behalf). The sessions side
 * implements {@link SubDeviceDirectory}; the traffic side implements {@link SubDeviceTraffic}.
 */
import type { CompiledThingModel } from '../../thing-model';
import type { DeviceIdentity } from '../../thing-model/wire';
import type { SubDeviceState, SubDeviceStatus } from '../../handlers/api';

/** What the agent holds for one sub-device. The secret is never part of it (it stays in the store). */
export interface SubDeviceEntry extends SubDeviceStatus {
  /** `${productKey}/${deviceName}`: the key every map of sub-devices uses. */
  readonly key: string;
  /** The product's compiled Thing Model (configured per product). */
  readonly model: CompiledThingModel;
}

/** Sub-devices known to this gateway, and their state changes. Implemented by the sessions side. */
export interface SubDeviceDirectory {
  get(productKey: string, deviceName: string): SubDeviceEntry | undefined;
  list(): readonly SubDeviceEntry[];
  /** Called on every state change, after the change; returns an unsubscribe function. */
  onChange(listener: (entry: SubDeviceEntry, previous: SubDeviceState | undefined) => void): () => void;
}

/**
 * The traffic side's half. The sessions side calls `beforeOnline` after a login succeeded and before it reports the
 * device online (so its subscriptions are in place first), and `afterOffline` when a device leaves `online`.
 */
export interface SubDeviceTraffic {
  /** Topic filters to subscribe for this sub-device (its property set, services, RRPC, custom topics...). */
  filtersFor(device: DeviceIdentity): readonly string[];
  beforeOnline?(entry: SubDeviceEntry): Promise<void> | void;
  afterOffline?(entry: SubDeviceEntry): Promise<void> | void;
}

/** The map key of a sub-device. */
export function subDeviceKey(d: DeviceIdentity): string {
  return `${d.productKey}/${d.deviceName}`;
}
