/**
 * The gateway (docs/protocol/gateway.md): the sub-devices behind this agent, their sessions over its one connection,
 * their traffic, and `ctx.gateway`. Built by the agent once its plugins are loaded; idle (no topics, no requests)
 * when nothing is configured and no plugin drives sub-devices, so a plugin for the gateway itself sees no change.
 */
import type { Logger } from 'pino';
import { compileThingModel, loadThingModelFile, type CompiledThingModel } from '../../thing-model';
import { gatewayTopics, lifecycleTopics, type DeviceIdentity } from '../../thing-model/wire';
import type { GatewayApi, SubDeviceClaim, SubDeviceState } from '../../handlers/api';
import type { AgentConfig } from '../config/load';
import type { PluginSlot } from '../plugins/registry';
import type { ChannelRoute } from '../router';
import type { InboundMessage, Uplink } from '../transport';
import type { AlinkUpstream } from '../upstream/upstream';
import { createGatewayApi, statusOf } from './api';
import { Secret } from '../config/secret';
import { GatewaySessions } from './sessions/engine';
import { GatewayNotices } from './sessions/notices';
import { SubDeviceRecords } from './sessions/records';
import { NOT_AUTHORIZED, watchRefusals } from './sessions/refusals';
import { GatewayRequests } from './sessions/requests';
import { MemorySubDeviceStore, type SubDeviceStore } from './sessions/store';
import { checkClaim, createSubDeviceTraffic, topicOwner, type OwnedClaim, type SubDeviceRouterDeps, type SubDeviceTrafficSide, type TrafficSubscriber } from './traffic';
import { checkOtaClaims, SubDeviceOta, type SubDeviceOtaOptions, type SubDeviceOtaStatus } from './ota';

export interface GatewayDeps {
  identity: DeviceIdentity;
  config: Pick<AgentConfig, 'gateway' | 'subDevices'>;
  plugins: { readonly slots: readonly PluginSlot[] };
  subscriber: TrafficSubscriber;
  /** The gateway's uplink (notification replies, refusals, sub-device replies and posts). */
  uplink: Uplink;
  /** The gateway's own upstream: its requests wait for their `_reply` there. */
  upstream: AlinkUpstream;
  store?: SubDeviceStore;
  logger: Logger;
  /** What each sub-device's router shares with the gateway's. */
  routers: Omit<SubDeviceRouterDeps, 'logger' | 'slotOf' | 'uplink'>;
  /** The platform's time (signatures). */
  now: () => number;
  /** How long a gateway request waits for its reply. */
  replyTimeoutMs: number;
  /** The outbox's `resendAcked` (queues again what it acknowledged for a device key a moment ago). */
  resendAcked?: (key: string) => number;
  /** The sub-devices' OTA (`gateway.otaModules`); without it their notices are refused like other traffic. */
  ota?: SubDeviceOtaOptions;
}

/** How a lifecycle notice's topic ends: only then are the device's lifecycle topics built to compare (not per message). */
const LIFECYCLE_END = /\/thing\/(disable|enable|delete)$/;

/** Compiles each sub-device product's Thing Model once (TslError names the file). */
function loadModels(products: AgentConfig['gateway']['products']): Map<string, CompiledThingModel> {
  const out = new Map<string, CompiledThingModel>();
  for (const [pk, tm] of Object.entries(products)) {
    out.set(pk, compileThingModel(loadThingModelFile(tm.path), { enforceStep: tm.enforceStep, partialStructs: tm.partialStructs }));
  }
  return out;
}

export class Gateway {
  readonly api: GatewayApi;
  readonly records: SubDeviceRecords;
  readonly sessions: GatewaySessions;
  readonly traffic: SubDeviceTrafficSide;
  /** False when nothing is configured and no plugin claims sub-devices: no topics, no requests. */
  readonly enabled: boolean;
  /** The sub-devices' OTA clients (docs/ota.md, "Sub-devices"). */
  readonly ota: SubDeviceOta | undefined;
  private readonly notices: GatewayNotices;
  private readonly requests: GatewayRequests;
  private readonly gw: ReturnType<typeof gatewayTopics>;
  private readonly gwLife: ReturnType<typeof lifecycleTopics>;
  private readonly logger: Logger;
  private readonly store: SubDeviceStore;

  constructor(private readonly deps: GatewayDeps) {
    const logger = (this.logger = deps.logger.child({ component: 'gateway' }));
    const models = loadModels(deps.config.gateway.products);
    const claims: OwnedClaim[] = deps.plugins.slots.flatMap((s) => (s.instance.subDevices ? [{ owner: s.name, claim: s.instance.subDevices as SubDeviceClaim }] : []));
    const slots = new Map(deps.plugins.slots.map((s) => [s.name, s]));
    this.checkClaims(claims, models, slots);
    checkOtaClaims(deps.config.gateway.otaModules, (name) => slots.get(name));
    this.enabled = deps.config.subDevices.length > 0 || claims.length > 0;
    this.store = deps.store ?? new MemorySubDeviceStore();
    // The traffic side's owner table, built just below and before any record is added.
    this.records = new SubDeviceRecords((d) => this.traffic.ownerOf(d)?.owner);
    this.gw = gatewayTopics(deps.identity);
    this.gwLife = lifecycleTopics(deps.identity);
    // The notices exist by the time a receipt settles.
    const uplink = watchRefusals(deps.uplink, (d, topic) => this.refusedFor(d, topic));
    const otaModules = deps.config.gateway.otaModules;
    this.traffic = createSubDeviceTraffic({
      directory: this.records,
      subscriber: deps.subscriber,
      claims,
      logger,
      routers: { ...deps.routers, uplink, slotOf: (name) => slots.get(name) },
      otaProducts: new Set(Object.keys(otaModules)),
    });
    this.requests = new GatewayRequests({
      gateway: deps.identity,
      upstream: deps.upstream,
      signMethod: deps.config.gateway.signMethod,
      cleanSession: deps.config.gateway.cleanSession,
      now: deps.now,
      timeoutMs: deps.replyTimeoutMs,
    });
    this.sessions = new GatewaySessions({ records: this.records, requests: this.requests, traffic: this.traffic, store: this.store, config: deps.config.gateway, logger });
    this.notices = new GatewayNotices({ gateway: deps.identity, records: this.records, sessions: this.sessions, traffic: this.traffic, requests: this.requests, store: this.store, uplink: deps.uplink, logger, ...(deps.resendAcked ? { resendAcked: deps.resendAcked } : {}) });
    this.api = createGatewayApi({ gateway: deps.identity, records: this.records, sessions: this.sessions, requests: this.requests, traffic: this.traffic, store: this.store, models, connected: () => this.connected, upstream: deps.upstream, now: deps.now });
    this.load(models);
    this.tellOwners(claims, slots, logger);
    this.ota = deps.ota && this.enabled ? new SubDeviceOta({ ...deps.ota, modules: otaModules, directory: this.records, traffic: this.traffic, slotOf: (name) => slots.get(name), uplink, logger }) : undefined;
  }

  private connected = false;

  /** Topics on the gateway's own identity for the gateway's router (before the agent starts). */
  routes(): { replies: string[]; channels: ChannelRoute[] } {
    if (!this.enabled) return { replies: [], channels: [] };
    const handle = (msg: InboundMessage) => this.gatewayMessage(msg);
    const topics = [this.gw.topoChange, this.gw.topoAddNotify, this.gwLife.extError, this.gwLife.disable, this.gwLife.enable, this.gwLife.delete];
    return { replies: [...this.requests.replyTopics(), this.gw.packPostReply], channels: topics.map((topic) => ({ topic, qos: topic === this.gwLife.extError ? 0 : 1, handle })) };
  }

  /**
   * A message on a sub-device's topics; undefined when the topic is not a sub-device's (the gateway's router takes it).
   */
  handle(msg: InboundMessage): Promise<void> | undefined {
    if (!this.enabled) return undefined;
    const owner = topicOwner(msg.topic);
    if (!owner) return undefined;
    const d = owner.device;
    if (d.productKey === this.deps.identity.productKey && d.deviceName === this.deps.identity.deviceName) return undefined;
    if (owner.extError) return this.notices.extError(msg, d);
    if (LIFECYCLE_END.test(msg.topic)) {
      const life = lifecycleTopics(d);
      if (msg.topic === life.disable || msg.topic === life.enable || msg.topic === life.delete) return this.notices.lifecycle(msg, d);
    }
    if (this.ota && SubDeviceOta.takes(msg.topic)) return this.ota.handle(msg, d);
    return this.traffic.handle(msg, owner);
  }

  /**
   * The outbox heard the broker refuse a publish (docs/protocol/gateway.md, "Held messages"): a refusal as not
   * authorized on a sub-device's topic is its lost session, taken as 520 before this returns, so the hold keeps the
   * message for the device's next login instead of the outbox dropping it.
   */
  refused(topic: string, reasonCode: number): void {
    if (!this.enabled || reasonCode !== NOT_AUTHORIZED) return;
    const d = this.subDeviceOf(topic);
    if (d) this.refusedFor(d, topic);
  }

  private refusedFor(device: DeviceIdentity, topic: string): void {
    // publishRefused marks the device offline before its first await: the hold holds its topics from here on.
    this.notices.publishRefused(device, topic).catch((err: unknown) => this.logger.error({ err, topic }, 'refused publish not handled'));
  }

  onConnected(): void {
    this.connected = true;
    if (this.enabled) this.sessions.onConnected();
  }

  onDisconnected(): void {
    this.connected = false;
    this.sessions.onDisconnected();
  }

  /** Before the first connect: the sub-devices' OTA counts this start and resumes interrupted downloads. */
  async boot(): Promise<void> {
    await this.ota?.boot();
  }

  async stop(drainTimeoutMs: number): Promise<void> {
    await Promise.all([this.traffic.drain(drainTimeoutMs), this.ota?.stop()]);
    this.sessions.stop();
  }

  /** The record key of the known sub-device `topic` belongs to (the outbox keeps its acknowledged messages a moment). */
  keyOf(topic: string): string | undefined {
    const d = this.subDeviceOf(topic);
    return d && this.records.get(d.productKey, d.deviceName)?.key;
  }

  /** Sub-devices with an OTA job or failure, for /healthz. */
  otaStatus(): SubDeviceOtaStatus[] {
    return this.ota?.status() ?? [];
  }

  /**
   * True for a topic of a known sub-device that is not online: the platform would refuse its messages, so the
   * outbox keeps them until the device is logged in again (docs/protocol/gateway.md, "Held messages").
   */
  holds(topic: string): boolean {
    const d = this.subDeviceOf(topic);
    const e = d && this.records.get(d.productKey, d.deviceName);
    return e !== undefined && e.state !== 'online';
  }

  /** The sub-device `topic` belongs to: undefined for the gateway's own topics, `/ext/error` notices and topics of no device. */
  private subDeviceOf(topic: string): DeviceIdentity | undefined {
    const owner = topicOwner(topic);
    if (!owner || owner.extError) return undefined;
    const d = owner.device;
    return d.productKey === this.deps.identity.productKey && d.deviceName === this.deps.identity.deviceName ? undefined : d;
  }

  /** Calls `release` (once per turn however many devices came online in it) whenever a sub-device is online. */
  onOnline(release: () => void): void {
    let scheduled = false;
    this.records.onChange((entry) => {
      if (entry.state !== 'online' || scheduled) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        release();
      });
    });
  }

  /** Sub-devices by state, for /healthz, /metrics and STATUS=. */
  counts(): Record<SubDeviceState, number> {
    return this.records.byState();
  }

  private async gatewayMessage(msg: InboundMessage): Promise<void> {
    if (msg.topic === this.gwLife.extError) return this.notices.extError(msg, this.deps.identity);
    await this.notices.gatewayNotice(msg, this.gw);
  }

  /** Configured sub-devices, then what the store adds (run-time additions, registered secrets, topology). */
  private load(models: Map<string, CompiledThingModel>): void {
    const stored = new Map(this.store.list().map((s) => [`${s.productKey}/${s.deviceName}`, s]));
    for (const c of this.deps.config.subDevices) {
      const key = `${c.productKey}/${c.deviceName}`;
      const s = stored.get(key);
      stored.delete(key);
      const r = this.records.add({ id: { productKey: c.productKey, deviceName: c.deviceName }, model: models.get(c.productKey) as CompiledThingModel, secret: c.secret, added: false, topology: s?.topology ?? false, disabled: s?.disabled ?? false });
      if (!r.secret && s?.secret !== undefined) {
        r.secret = new Secret(s.secret);
        r.registered = s.secret;
      }
    }
    for (const s of stored.values()) {
      const model = models.get(s.productKey);
      if (!model) {
        this.logger.warn({ device: `${s.productKey}/${s.deviceName}` }, 'a sub-device added at run time has a product no longer configured; kept on record, not logged in');
        continue;
      }
      this.records.add({ id: { productKey: s.productKey, deviceName: s.deviceName }, model, secret: s.secret !== undefined ? new Secret(s.secret) : undefined, added: s.added, topology: s.topology, disabled: s.disabled });
    }
  }

  /** Every claim checked against its products' Thing Models now, so a bad claim stops the start naming the plugin. */
  private checkClaims(claims: OwnedClaim[], models: Map<string, CompiledThingModel>, slots: ReadonlyMap<string, PluginSlot>): void {
    for (const c of claims) {
      const pks = new Set([...(c.claim.products ?? []), ...(c.claim.devices ?? []).map((d) => d.productKey)]);
      for (const pk of pks) {
        const model = models.get(pk);
        if (model) checkClaim(c, slots.get(c.owner) as PluginSlot, model, { productKey: pk, deviceName: 'claim-check' });
      }
    }
  }

  /** Each owner's `onStateChange`, guarded: a throwing plugin is logged, never breaks the sessions. */
  private tellOwners(claims: OwnedClaim[], slots: ReadonlyMap<string, PluginSlot>, logger: Logger): void {
    const byOwner = new Map(claims.map((c) => [c.owner, c]));
    this.records.onChange((entry, previous) => {
      const owner = entry.owner ? byOwner.get(entry.owner) : undefined;
      const fn = owner ? ((slots.get(owner.owner)?.instance.subDevices as SubDeviceClaim | undefined) ?? owner.claim).onStateChange : undefined;
      // A thousand devices log in after every connect: the routine steps at debug, what needs a person at warn.
      const level = entry.state === 'failed' || entry.state === 'disabled' ? 'warn' : 'debug';
      logger[level]({ device: entry.key, state: entry.state, previous, reason: entry.reason }, 'sub-device state');
      if (!fn) return;
      try {
        fn(statusOf(entry), previous);
      } catch (err) {
        logger.error({ err, device: entry.key, plugin: owner?.owner }, 'onStateChange threw');
      }
    });
  }
}
