/**
 * Posts on behalf of sub-devices (docs/protocol/gateway-traffic.md, "Upstream"): one `AlinkUpstream` per sub-device,
 * on its own topics and validated against its product's TSL, sharing the gateway's uplink (so the same outbox and
 * handle semantics as `ctx.upstream`) and id source; the replies on the sub-device's `_reply` topics settle them.
 */
import type { Logger } from 'pino';
import { deviceTopics, type DeviceIdentity, type MessageIdGenerator } from '../../../thing-model/wire';
import type { Uplink } from '../../transport';
import { AlinkUpstream } from '../../upstream/upstream';
import { subDeviceKey, type SubDeviceDirectory } from '../directory';

export interface SubDeviceUpstreamDeps {
  directory: SubDeviceDirectory;
  /** The gateway's uplink (its outbox). */
  uplink: Uplink;
  logger: Logger;
  /** The gateway's upstream id source (ids unique per connection). */
  ids?: MessageIdGenerator;
  durable?: boolean;
  replyTimeoutMs?: number;
  now?: () => number;
}

export class SubDeviceUpstreams {
  private readonly byKey = new Map<string, AlinkUpstream>();

  constructor(private readonly deps: SubDeviceUpstreamDeps) {}

  /** The sub-device's upstream; undefined when the directory does not know it (its model is needed to validate). */
  upstream(device: DeviceIdentity): AlinkUpstream | undefined {
    const key = subDeviceKey(device);
    const known = this.byKey.get(key);
    if (known) return known;
    const entry = this.deps.directory.get(device.productKey, device.deviceName);
    if (!entry) return undefined;
    const up = new AlinkUpstream({
      identity: { productKey: entry.productKey, deviceName: entry.deviceName },
      model: entry.model,
      uplink: this.deps.uplink,
      logger: this.deps.logger.child({ component: 'upstream', device: key }),
      replyTimeoutMs: this.deps.replyTimeoutMs,
      ids: this.deps.ids,
      durable: this.deps.durable,
      now: this.deps.now,
    });
    this.byKey.set(key, up);
    return up;
  }

  /**
   * Settles a post of a sub-device from a `_reply` on its topics; false when the topic is not one of a known
   * sub-device's post replies (the caller routes it elsewhere).
   */
  handleReply(topic: string, payload: Buffer): boolean {
    const parts = topic.split('/');
    // /sys/{pk}/{dn}/thing/event/.../post_reply
    if (parts[1] !== 'sys' || parts.length < 7 || !topic.endsWith('post_reply')) return false;
    const device = { productKey: parts[2] ?? '', deviceName: parts[3] ?? '' };
    if (!topic.startsWith(`${deviceTopics(device).sysPrefix}/thing/event/`)) return false;
    const up = this.byKey.get(subDeviceKey(device));
    if (!up) return false;
    up.handleReply(payload);
    return true;
  }

  /** Forgets a removed sub-device's upstream. */
  forget(device: DeviceIdentity): void {
    this.byKey.delete(subDeviceKey(device));
  }
}
