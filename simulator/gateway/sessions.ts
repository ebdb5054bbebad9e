/**
 * The platform's gateway bookkeeping: topology (each sub-device bound to at most one gateway) and sub-device
 * sessions (a sub-device logged in through its gateway's connection). Per simulator; nothing is global.
 */
import type { DeviceId } from '../mqtt/acl';

const key = (d: DeviceId) => `${d.productKey}/${d.deviceName}`;
/** Deleted sub-devices remembered for their gateway's sake (521 instead of 520). */
const DELETED_MAX = 10_000;

export class GatewayBook {
  /** sub → its gateway in the topology. */
  private readonly topo = new Map<string, DeviceId>();
  /** sub → the gateway it is logged in through. */
  private readonly sessions = new Map<string, DeviceId>();
  /** Deleted sub-device → the gateway it was bound to, so that gateway's later traffic for it hears 521. */
  private readonly deleted = new Map<string, DeviceId>();

  gatewayOf(sub: DeviceId): DeviceId | undefined {
    return this.topo.get(key(sub));
  }

  subDevicesOf(gw: DeviceId): DeviceId[] {
    const k = key(gw);
    const out: DeviceId[] = [];
    for (const [s, g] of this.topo) if (key(g) === k) out.push(fromKey(s));
    return out;
  }

  /** Binds the sub-device to the gateway (replacing another gateway); returns the gateway it had before. */
  addTopo(gw: DeviceId, sub: DeviceId): DeviceId | undefined {
    const before = this.topo.get(key(sub));
    this.topo.set(key(sub), { productKey: gw.productKey, deviceName: gw.deviceName });
    return before;
  }

  /** Removes the binding when it is to `gw` (any gateway when omitted); true when one was removed. */
  removeTopo(sub: DeviceId, gw?: DeviceId): boolean {
    const g = this.topo.get(key(sub));
    if (!g || (gw && key(g) !== key(gw))) return false;
    this.topo.delete(key(sub));
    return true;
  }

  /** DeleteDevice of a sub-device bound to (or logged in through) `gw`; the oldest records go past DELETED_MAX. */
  markDeleted(sub: DeviceId, gw: DeviceId): void {
    this.deleted.delete(key(sub));
    this.deleted.set(key(sub), { productKey: gw.productKey, deviceName: gw.deviceName });
    if (this.deleted.size > DELETED_MAX) this.deleted.delete(this.deleted.keys().next().value!);
  }

  /** The gateway a deleted sub-device was bound to (meaningless once a device of that name is registered again). */
  deletedFrom(sub: DeviceId): DeviceId | undefined {
    return this.deleted.get(key(sub));
  }

  /** The gateway the sub-device is logged in through, if any. */
  sessionOf(sub: DeviceId): DeviceId | undefined {
    return this.sessions.get(key(sub));
  }

  login(gw: DeviceId, sub: DeviceId): void {
    this.sessions.set(key(sub), { productKey: gw.productKey, deviceName: gw.deviceName });
  }

  /** Ends the session (only when it is through `gw`, if given); true when there was one. */
  logout(sub: DeviceId, gw?: DeviceId): boolean {
    const g = this.sessions.get(key(sub));
    if (!g || (gw && key(g) !== key(gw))) return false;
    this.sessions.delete(key(sub));
    return true;
  }

  /** Sub-devices logged in through the gateway. */
  onlineThrough(gw: DeviceId): DeviceId[] {
    const k = key(gw);
    const out: DeviceId[] = [];
    for (const [s, g] of this.sessions) if (key(g) === k) out.push(fromKey(s));
    return out;
  }
}

function fromKey(k: string): DeviceId {
  const i = k.indexOf('/');
  return { productKey: k.slice(0, i), deviceName: k.slice(i + 1) };
}
