/**
 * What the platform tells the gateway about its sub-devices (docs/protocol/gateway.md, "`/ext/error`" and "Cloud
 * notifications"): `/ext/error` codes on the gateway's or the sub-device's topic, `thing/disable|enable|delete` on the
 * sub-device's topics, and `topo/change` and `topo/add/notify` on the gateway's. Each notification is answered on its
 * `_reply`; each changes the device's record and, where it should, asks the sessions for another round.
 */
import type { Logger } from 'pino';
import { AlinkCodes } from '../../../thing-model/codes';
import { lifecycleTopics, TopoChangeStatus, type DeviceIdentity } from '../../../thing-model/wire';
import type { InboundMessage, Uplink } from '../../transport';
import type { SubDeviceTrafficSide } from '../traffic';
import type { GatewaySessions } from './engine';
import type { SubDeviceRecord, SubDeviceRecords } from './records';
import { identityOf, type GatewayRequests } from './requests';
import type { SubDeviceStore } from './store';

export interface GatewayNoticesDeps {
  gateway: DeviceIdentity;
  records: SubDeviceRecords;
  sessions: GatewaySessions;
  traffic: SubDeviceTrafficSide;
  requests: GatewayRequests;
  store: SubDeviceStore;
  uplink: Uplink;
  logger: Logger;
  /**
   * Queues again what the outbox had acknowledged for the device a moment ago (agent/outbox/recent-acks.ts);
   * returns how many. Absent without a durable outbox.
   */
  resendAcked?: (key: string) => number;
}

interface Notice {
  id: string;
  code?: number;
  message?: string;
  params?: unknown;
  data?: unknown;
}

function parse(payload: Buffer): Notice | undefined {
  try {
    const v = JSON.parse(payload.toString('utf8')) as Notice;
    return v && typeof v === 'object' ? { ...v, id: typeof v.id === 'string' ? v.id : String(v.id ?? '') } : undefined;
  } catch {
    return undefined;
  }
}

export class GatewayNotices {
  private readonly gwLife: ReturnType<typeof lifecycleTopics>;

  constructor(private readonly deps: GatewayNoticesDeps) {
    this.gwLife = lifecycleTopics(deps.gateway);
  }

  /** `/ext/error/{pk}/{dn}` of the gateway or of a sub-device; `device` is the topic's. */
  async extError(msg: InboundMessage, device: DeviceIdentity): Promise<void> {
    const n = parse(msg.payload);
    if (!n || typeof n.code !== 'number') return void this.deps.logger.warn({ topic: msg.topic }, 'malformed /ext/error notice dropped');
    const named = identityOf(n.data) ?? device;
    const r = this.deps.records.record(named);
    const line = { code: n.code, device: `${named.productKey}/${named.deviceName}`, reason: n.message };
    if (!r) return void this.deps.logger.warn(line, 'platform error notice about a device this gateway does not know');
    this.deps.logger.warn(line, 'platform error notice about a sub-device');
    // apply marks the device offline before its first await: what is queued again below is held for the new login.
    const applied = this.apply(r, n.code, `${n.code} ${n.message ?? ''}`.trim());
    if (n.code === AlinkCodes.SUB_DEVICE_SESSION_ERROR || n.code === AlinkCodes.KICKED_OFF) {
      // The platform took and dropped messages since the session went: the notice does not say which, so the
      // last moments' messages for the device go again (at least once; docs/protocol/gateway.md "Held messages").
      const again = this.deps.resendAcked?.(r.key) ?? 0;
      if (again > 0) this.deps.logger.info({ device: r.key, messages: again }, 'messages the platform dropped are queued again for after the login');
    }
    await applied;
  }

  /**
   * The broker refused a publish for an online sub-device as not authorized (sessions/refusals.ts): its session is
   * gone there, as with 520. Only for an online device, so the refusals of a burst ask for one login, not many.
   */
  async publishRefused(device: DeviceIdentity, topic: string): Promise<void> {
    const r = this.deps.records.record(device);
    if (!r || r.entry.state !== 'online') return;
    this.deps.logger.warn({ device: r.key, topic }, 'the broker refused a publish for a sub-device (no session there); logging it in again');
    await this.apply(r, AlinkCodes.SUB_DEVICE_SESSION_ERROR, 'publish refused by the broker (not authorized)');
  }

  /** What a code means for the device (docs/protocol/gateway.md, the `/ext/error` table). */
  private async apply(r: SubDeviceRecord, code: number, reason: string): Promise<void> {
    const { sessions, records } = this.deps;
    switch (code) {
      case AlinkCodes.SUB_DEVICE_SESSION_ERROR:
      case AlinkCodes.KICKED_OFF:
        // Lost its session: log it in again (the round re-subscribes; SUBSCRIBE of a held filter is harmless).
        if (r.entry.state === 'online') records.setState(r, 'offline', reason);
        return sessions.kick();
      case AlinkCodes.SUB_DEVICE_DELETED:
        return this.forget(r, `deleted by the cloud (${reason})`);
      case AlinkCodes.SUB_DEVICE_DISABLED:
        return this.disable(r, reason);
      case AlinkCodes.SUB_DEVICE_DUPLICATE_LOGIN:
        r.reachable = false;
        return sessions.logout(r, 'offline', `${reason}: logged in by another connection; waiting for the driver to report it reachable`);
      case AlinkCodes.SUB_DEVICE_BAD_SIGN:
        return sessions.logout(r, 'failed', reason);
      case AlinkCodes.NO_TOPOLOGY:
        r.topology = false;
        await sessions.persist(r);
        if (r.entry.state === 'online') records.setState(r, 'offline', reason);
        return sessions.kick();
      default:
        // 428 (too many online) and the rest: nothing to change for this device; the next round tries again.
        if (r.entry.state === 'online') records.setState(r, 'offline', reason);
        return sessions.kick();
    }
  }

  /** `thing/disable|enable|delete` on a sub-device's own topics (answered on `_reply`). */
  async lifecycle(msg: InboundMessage, device: DeviceIdentity): Promise<void> {
    const n = parse(msg.payload);
    const life = lifecycleTopics(device);
    const r = this.deps.records.record(device);
    if (r) {
      if (msg.topic === life.disable) await this.disable(r, 'disabled by the cloud (thing.disable)');
      else if (msg.topic === life.enable) await this.enable(r);
      else if (msg.topic === life.delete) await this.forget(r, 'deleted by the cloud (thing.delete)');
    }
    await this.answer(`${msg.topic}_reply`, n?.id ?? '');
  }

  /** `topo/change`, `topo/add/notify` and the gateway's own lifecycle topics. True when `msg` was one. */
  async gatewayNotice(msg: InboundMessage, topics: { topoChange: string; topoAddNotify: string }): Promise<boolean> {
    if (msg.topic === topics.topoChange) {
      const n = parse(msg.payload);
      const p = n?.params as { status?: unknown; subList?: unknown } | undefined;
      const list = Array.isArray(p?.subList) ? p.subList.flatMap((d) => identityOf(d) ?? []) : [];
      for (const d of list) {
        const r = this.deps.records.record(d);
        if (r) await this.topoChange(r, p?.status);
      }
      await this.answer(`${msg.topic}_reply`, n?.id ?? '');
      return true;
    }
    if (msg.topic === topics.topoAddNotify) {
      const n = parse(msg.payload);
      const list = Array.isArray(n?.params) ? n.params.flatMap((d) => identityOf(d) ?? []) : [];
      for (const d of list) {
        const r = this.deps.records.record(d);
        if (!r) {
          this.deps.logger.warn({ device: `${d.productKey}/${d.deviceName}` }, 'cloud asks to add topology for a sub-device no plugin or config declares; ignored');
          continue;
        }
        r.topology = false;
        await this.deps.sessions.persist(r);
      }
      this.deps.sessions.kick();
      await this.answer(`${msg.topic}_reply`, n?.id ?? '');
      return true;
    }
    if (msg.topic === this.gwLife.disable || msg.topic === this.gwLife.enable || msg.topic === this.gwLife.delete) {
      this.deps.logger.warn({ topic: msg.topic }, 'the cloud changed the gateway itself');
      await this.answer(`${msg.topic}_reply`, parse(msg.payload)?.id ?? '');
      return true;
    }
    return false;
  }

  private async topoChange(r: SubDeviceRecord, status: unknown): Promise<void> {
    switch (status) {
      case TopoChangeStatus.CREATED:
        r.topology = true;
        await this.deps.sessions.persist(r);
        if (r.entry.state === 'failed') this.deps.records.setState(r, 'pending', 'topology created by the cloud');
        return this.deps.sessions.kick();
      case TopoChangeStatus.DELETED:
        r.topology = false;
        await this.deps.sessions.persist(r);
        // The operator removed it: adding it back at once would undo that. It waits for ctx.gateway.add or a restart.
        return this.deps.sessions.logout(r, 'failed', 'topology removed by the cloud');
      case TopoChangeStatus.ENABLED:
        return this.enable(r);
      case TopoChangeStatus.DISABLED:
        return this.disable(r, 'disabled by the cloud (topo/change)');
      default:
        this.deps.logger.warn({ device: r.key, status }, 'topo/change with an unknown status ignored');
    }
  }

  private async disable(r: SubDeviceRecord, reason: string): Promise<void> {
    r.disabled = true;
    await this.deps.sessions.persist(r);
    await this.deps.sessions.logout(r, 'disabled', reason);
  }

  private async enable(r: SubDeviceRecord): Promise<void> {
    if (!r.disabled && r.entry.state !== 'disabled') return;
    r.disabled = false;
    await this.deps.sessions.persist(r);
    this.deps.records.setState(r, 'offline', 'enabled again');
    this.deps.sessions.kick();
  }

  /** Deleted in the cloud: forgotten here, its router dropped, its plugin told (state offline, the reason). */
  private async forget(r: SubDeviceRecord, reason: string): Promise<void> {
    if (r.entry.state === 'online') await this.deps.traffic.afterOffline(r.entry).catch(() => undefined);
    this.deps.records.remove(r, reason);
    this.deps.traffic.forget(r.id);
    await this.deps.store.delete(r.id.productKey, r.id.deviceName);
  }

  private async answer(topic: string, id: string): Promise<void> {
    const body = JSON.stringify({ id, code: AlinkCodes.SUCCESS, data: {} });
    await this.deps.uplink.publish(topic, body, { qos: 0, messageClass: 'reply' }).then(
      () => undefined,
      (err: unknown) => this.deps.logger.warn({ topic, err: (err as Error).message }, 'notification reply not sent'),
    );
  }
}
