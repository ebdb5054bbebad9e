/**
 * A device's life cycle as the cloud actions change it (docs/protocol/gateway-platform.md, "Cloud actions"):
 * DeleteDevice (a sub-device hears `thing.delete` through its gateway, which also gets `topo/change` 1; a device's
 * own connection ends), DisableThing / EnableThing, and the `topo/change` notices the topology actions send.
 */
import type { Logger } from 'pino';
import { AlinkMethods, lifecycleTopics, gatewayTopics, TopoChangeStatus } from '../../thing-model/wire';
import type { DeviceId } from '../mqtt/acl';
import type { DeviceRecord, Registry } from '../registry';
import type { GatewayChannel } from './channel';
import type { GatewayBook } from './sessions';

export interface LifecycleOptions {
  registry: Registry;
  logger: Logger;
  book: GatewayBook;
  channel: GatewayChannel;
  /** Publishes a platform notice (QoS 0). */
  send(topic: string, payload: Buffer): Promise<void>;
  /** Ends the device's own MQTT connection, if it has one. */
  disconnect(id: DeviceId): void;
  /** Drops what the platform kept about the device (state, tags, desired values, shadow, logs). */
  forget(id: DeviceId): void;
}

type TopoStatus = (typeof TopoChangeStatus)[keyof typeof TopoChangeStatus];

const ident = (d: DeviceId) => ({ productKey: d.productKey, deviceName: d.deviceName });
const same = (a: DeviceId, b: DeviceId) => a.productKey === b.productKey && a.deviceName === b.deviceName;

export class DeviceLifecycle {
  constructor(private readonly opts: LifecycleOptions) {}

  private nodeType(d: DeviceId): 'direct' | 'gateway' | 'sub' | undefined {
    return this.opts.registry.product(d.productKey)?.nodeType;
  }

  /** A notice to the gateway: these sub-devices' topology was created, deleted, re-enabled or disabled [DOC][DOC-m]. */
  async topoChange(gw: DeviceId, status: TopoStatus, subs: DeviceId[]): Promise<void> {
    if (subs.length === 0) return;
    const body = { id: String(Date.now()), version: '1.0', method: AlinkMethods.TOPO_CHANGE, params: { status, subList: subs.map(ident) } };
    await this.opts.send(gatewayTopics(gw).topoChange, Buffer.from(JSON.stringify(body))).catch(() => undefined);
  }

  /**
   * BatchAddThingTopo bound `subs` to `gw` (`before[i]`: the gateway `subs[i]` had): `gw` hears status 0 for all of
   * them, a gateway that lost one status 1 for it. [POLICY for the old gateway's notice]
   */
  async topologyAdded(gw: DeviceId, subs: DeviceId[], before: (DeviceId | undefined)[]): Promise<void> {
    await this.topoChange(gw, TopoChangeStatus.CREATED, subs);
    const lost = new Map<string, { gw: DeviceId; subs: DeviceId[] }>();
    subs.forEach((sub, i) => {
      const old = before[i];
      if (!old || same(old, gw)) return;
      const k = `${old.productKey}/${old.deviceName}`;
      if (!lost.has(k)) lost.set(k, { gw: old, subs: [] });
      lost.get(k)!.subs.push(sub);
    });
    for (const l of lost.values()) await this.topoChange(l.gw, TopoChangeStatus.DELETED, l.subs);
  }

  /** RemoveThingTopo: a gateway loses all its sub-devices, a sub-device its binding; sessions end, `topo/change` 1. */
  async removeTopology(d: DeviceId): Promise<void> {
    const book = this.opts.book;
    const subs = this.nodeType(d) === 'gateway' ? book.subDevicesOf(d) : [d];
    const byGateway = new Map<string, { gw: DeviceId; subs: DeviceId[] }>();
    for (const sub of subs) {
      const gw = book.gatewayOf(sub);
      if (!gw || !book.removeTopo(sub)) continue;
      this.opts.channel.endSession(sub, gw, true);
      const k = `${gw.productKey}/${gw.deviceName}`;
      if (!byGateway.has(k)) byGateway.set(k, { gw, subs: [] });
      byGateway.get(k)!.subs.push(sub);
    }
    for (const g of byGateway.values()) await this.topoChange(g.gw, TopoChangeStatus.DELETED, g.subs);
  }

  /** A lifecycle notice on the sub-device's own topic, sent while its session still carries it to the gateway. */
  private async notice(topic: string, method: string): Promise<void> {
    const body = { id: String(Date.now()), version: '1.0', params: {}, method };
    await this.opts.send(topic, Buffer.from(JSON.stringify(body))).catch(() => undefined);
  }

  /**
   * DeleteDevice. A sub-device logged in through its gateway hears `thing.delete` on its own topic, its session
   * ends, its topology goes and the gateway gets `topo/change` 1; that gateway's later traffic for it hears
   * `/ext/error` 521 [DOC][DOC-codes]. A gateway's topology goes with it. A device's own connection is closed and
   * cannot come back (the registry no longer knows it).
   */
  async remove(d: DeviceRecord): Promise<void> {
    const book = this.opts.book;
    if (this.nodeType(d) === 'sub') {
      const session = book.sessionOf(d);
      const gw = book.gatewayOf(d);
      if (session) {
        await this.notice(lifecycleTopics(d).delete, AlinkMethods.THING_DELETE);
        this.opts.channel.endSession(d, session, true);
      }
      const bound = gw ?? session;
      if (bound) book.markDeleted(d, bound);
      if (gw) {
        book.removeTopo(d);
        await this.topoChange(gw, TopoChangeStatus.DELETED, [d]);
      }
    } else if (this.nodeType(d) === 'gateway') {
      for (const sub of book.subDevicesOf(d)) {
        book.removeTopo(sub, d);
        this.opts.channel.endSession(sub, d, true);
      }
    }
    // Out of the registry first, so that the closed connection cannot log in again.
    this.opts.registry.remove(d.productKey, d.deviceName);
    this.opts.disconnect(d);
    this.opts.forget(d);
    this.opts.logger.info({ device: `${d.productKey}/${d.deviceName}` }, 'device deleted');
  }

  /**
   * DisableThing / EnableThing. A disabled device cannot connect [DOC]: its own connection ends and its CONNECT is
   * refused until enabled; a gateway's sub-devices go offline with it. On a sub-device, disable sends
   * `thing.disable` on its own topic while it is logged in, ends its session and tells the gateway `topo/change` 8;
   * enable tells the gateway status 2 (a disabled sub-device is offline and cannot hear `thing.enable`) [DOC].
   */
  async setEnabled(d: DeviceRecord, enabled: boolean): Promise<void> {
    if (!!d.disabled === !enabled) return;
    this.opts.registry.setDisabled(d, !enabled);
    // The broker's refusal is in place (registry first), then the connection goes with its sub-device sessions.
    if (!enabled) this.opts.disconnect(d);
    if (this.nodeType(d) !== 'sub') return;
    const session = this.opts.book.sessionOf(d);
    if (!enabled && session) {
      await this.notice(lifecycleTopics(d).disable, AlinkMethods.THING_DISABLE);
      this.opts.channel.endSession(d, session, true);
    }
    const gw = this.opts.book.gatewayOf(d);
    if (gw) await this.topoChange(gw, enabled ? TopoChangeStatus.ENABLED : TopoChangeStatus.DISABLED, [d]);
  }
}
