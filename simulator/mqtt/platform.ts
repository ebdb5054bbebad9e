/**
 * The platform's half of Alink: tracks presence and sends what the cloud APIs ask for (property set, services,
 * RRPC, Pub); what devices send goes through {@link Upstream} (posts answered, replies recorded, NTP).
 *
 * Presence: the embedded and the managed broker report connections, so status is exact there. An external
 * broker reports none, so in that mode a device counts as ONLINE while its last upstream message is younger than
 * mqtt.presenceWindowSeconds, OFFLINE after that, UNACTIVE before its first message; and RRPC calls are always
 * sent (their result is SUCCESS or TIMEOUT, never OFFLINE/HALFCONN, which cannot be known there).
 */
import type { Logger } from 'pino';
import { AlinkMethods, channelTopics, deviceTopics, extRrpcTopic, MessageIdGenerator, serviceMethod } from '../../thing-model/wire';
import type { AlinkReply, AlinkRequest } from '../../thing-model/wire';
import { isPlainObject } from '../../thing-model';
import type { Registry } from '../registry';
import type { DeviceStateStore, DeviceStatus, Reachability } from '../state/device-state';
import type { SimulatorEventBus } from '../events';
import type { DeviceId } from './acl';
import type { Mqtt5Properties, MqttLink, UplinkSink } from './link';
import { PendingCalls } from './pending-calls';
import { parseJson } from './posts';
import { Upstream } from './upstream';
import { DeviceChannels } from './channels';
import type { FileStore } from '../http/files';
import type { ScriptStoreOptions } from '../scripts/store';
import { StateChannels } from './device-channels';
import type { OtaService } from '../ota/service';
import { GatewayChannel } from '../gateway/channel';
import { GatewayBook } from '../gateway/sessions';
import { DeviceLifecycle } from '../gateway/lifecycle';
import { topicOwner } from '../gateway/owner';
import { ApiErrors } from '../errors';

export interface PlatformOptions {
  /** `external`: presence inferred from traffic; the others report connections. */
  mode: 'embedded' | 'managed' | 'external';
  registry: Registry;
  state: DeviceStateStore;
  events: SimulatorEventBus;
  logger: Logger;
  downstreamQos: 0 | 1;
  presenceWindowMs: number;
  /** Signed file URLs (parse scripts, configuration files). */
  files: FileStore;
  scripts?: ScriptStoreOptions;
  /** The OTA service: its device half takes the OTA topics and is told when devices connect. */
  ota?: OtaService;
  /** Topology and online limits per gateway. */
  gatewayLimits?: { maxSubDevices: number; maxOnlineSubDevices: number };
}

export type RrpcCode = 'SUCCESS' | 'TIMEOUT' | 'OFFLINE' | 'HALFCONN';

export interface RrpcOutcome {
  rrpcCode: RrpcCode;
  /** 0 when nothing was sent (OFFLINE/HALFCONN), as the platform answers. */
  messageId: number;
  payload?: Buffer;
}

export interface SyncServiceOutcome {
  reachability: Reachability;
  /** The Alink request id. */
  messageId: string;
  reply?: AlinkReply;
  /** The raw answer, when it was not an Alink reply. */
  rawReply?: Buffer;
  /** A custom-format product's answer the parse script could not decode. */
  scriptError?: { code: number; message: string };
}

/** Large, increasing RRPC message ids that stay exact in a JSON number (≤ 2^53−1, docs/protocol/wire-capture.md, "Cloud OpenAPI SDK: responses"). */
class RrpcIdGenerator {
  private next = Date.now() * 1024;
  nextId(): number {
    return this.next++;
  }
}

export class Platform implements UplinkSink {
  private link?: MqttLink;
  private readonly pending = new PendingCalls();
  private readonly alinkIds = new MessageIdGenerator();
  private readonly rrpcIds = new RrpcIdGenerator();
  private readonly pubIds = new RrpcIdGenerator();

  private readonly upstream: Upstream;
  /** Raw data and parse scripts, remote configuration, tags, log upload. */
  readonly channels: DeviceChannels;
  /** Desired values, shadow and property get (device-channels.ts). */
  readonly stateChannels: StateChannels;

  /** Topology and sub-device sessions (docs/protocol/gateway-platform.md). */
  readonly gateways = new GatewayBook();
  /** The gateway topics: topology, registration, sub-device login and logout. */
  readonly gatewayChannel: GatewayChannel;
  /** DeleteDevice, DisableThing, EnableThing and the topology notices (gateway/lifecycle.ts). */
  readonly lifecycle: DeviceLifecycle;

  constructor(private readonly opts: PlatformOptions) {
    this.gatewayChannel = new GatewayChannel({
      ...opts,
      book: this.gateways,
      limits: opts.gatewayLimits ?? { maxSubDevices: 2000, maxOnlineSubDevices: 2000 },
      send: (topic, payload) => this.send(topic, payload, 0),
    });
    this.lifecycle = new DeviceLifecycle({
      ...opts,
      book: this.gateways,
      channel: this.gatewayChannel,
      send: (topic, payload) => this.send(topic, payload, 0),
      disconnect: (id) => this.disconnect(id),
      forget: (id) => this.forget(id),
    });
    this.channels = new DeviceChannels({ ...opts, send: (topic, payload, qos) => this.send(topic, payload, qos), seen: (id) => this.seen(id) });
    this.stateChannels = new StateChannels({ ...opts, send: (t, p, q) => this.send(t, p, q), reachability: (id) => this.reachability(id), setProperties: (id, items) => this.setProperties(id, items) });
    this.upstream = new Upstream({
      ...opts,
      stateChannels: (t, p, o) => this.stateChannels.handles(t, p, o),
      ota: opts.ota ? (t, p, o) => opts.ota!.device.handles(t, p, o) : undefined,
      pending: this.pending,
      send: (topic, payload) => this.send(topic, payload, 0),
      seen: (id) => this.seen(id),
      channels: this.channels,
      gatewayOf: (sub) => this.gateways.gatewayOf(sub),
    });
  }

  attach(link: MqttLink): void {
    this.link = link;
    this.opts.ota?.attach({ send: (t, p, q) => this.send(t, p, q), online: (id) => this.reachability(id) === 'ONLINE' });
    const proxy = (link as MqttLink & { proxy?: (gw: DeviceId, sub: DeviceId, on: boolean) => void }).proxy;
    this.gatewayChannel.setSessionHook((gw, sub, on) => {
      proxy?.call(link, gw, sub, on);
      // A sub-device logged in through its gateway is online for OTA as a direct device is at CONNECT: its queued
      // notices go out to the gateway (docs/protocol/ota-platform.md, "Sub-devices").
      if (on) this.opts.ota?.jobs.onOnline(sub);
    });
  }

  /** Ends every waiting call (they answer TIMEOUT) and stops the script workers. */
  close(): void {
    this.pending.cancelAll();
    this.opts.ota?.close();
    void this.channels.close();
  }

  // ---- presence ---------------------------------------------------------------------------------------------

  status(id: DeviceId, now = Date.now()): { status: DeviceStatus; at: number } {
    const s = this.opts.state.peek(id.productKey, id.deviceName);
    if (!s) return { status: 'UNACTIVE', at: now };
    if (this.opts.mode === 'external' && s.lastSeenAt !== undefined) {
      const online = now - s.lastSeenAt <= this.opts.presenceWindowMs;
      return online ? { status: 'ONLINE', at: s.statusAt } : { status: 'OFFLINE', at: s.lastSeenAt + this.opts.presenceWindowMs };
    }
    return { status: s.status, at: s.statusAt };
  }

  reachability(id: DeviceId, now = Date.now()): Reachability {
    if (this.opts.mode === 'external') return 'ONLINE';
    return this.opts.state.reachability(id.productKey, id.deviceName, now);
  }

  deviceConnected(id: DeviceId, info: { clientId: string; keepalive: number; clientParams: Record<string, string> }): void {
    this.opts.state.markOnline(id.productKey, id.deviceName, { keepalive: info.keepalive, clientParams: info.clientParams }, Date.now());
    this.opts.logger.info({ device: `${id.productKey}/${id.deviceName}`, clientId: info.clientId, keepalive: info.keepalive }, 'device online');
    this.opts.events.emit('deviceOnline', { ...id, clientId: info.clientId });
    this.opts.ota?.jobs.onOnline(id);
    if (this.opts.registry.product(id.productKey)?.nodeType === 'sub') this.gatewayChannel.directLogin(id);
  }

  deviceDisconnected(id: DeviceId, info: { clientId: string; graceful: boolean }): void {
    this.gatewayChannel.gatewayGone(id, info.graceful);
    // A deleted device's connection ends after it left the registry: nothing is kept about it.
    if (this.opts.registry.device(id.productKey, id.deviceName)) this.opts.state.markOffline(id.productKey, id.deviceName, info.graceful, Date.now());
    this.opts.logger.info({ device: `${id.productKey}/${id.deviceName}`, clientId: info.clientId, graceful: info.graceful }, 'device offline');
    this.opts.events.emit('deviceOffline', { ...id, graceful: info.graceful });
  }

  /** DeleteDevice: what the platform kept about the device goes (OTA tasks stay with their jobs). */
  private forget(id: DeviceId): void {
    this.opts.state.forget(id.productKey, id.deviceName);
    this.channels.forget(id);
    this.stateChannels.forget(id);
  }

  /** Ends the device's own connection (DeleteDevice, DisableThing); an external broker is not ours to act on. */
  private disconnect(id: DeviceId): void {
    if (this.link?.disconnect) this.link.disconnect(id);
    else this.opts.logger.warn({ device: `${id.productKey}/${id.deviceName}` }, 'the device stays connected: the external broker is not the simulator\'s to close');
  }

  private seen(id: DeviceId): void {
    if (this.opts.mode !== 'external') {
      this.opts.state.get(id.productKey, id.deviceName).lastSeenAt = Date.now();
      return;
    }
    const now = Date.now();
    const before = this.status(id, now).status;
    const s = this.opts.state.get(id.productKey, id.deviceName);
    s.lastSeenAt = now;
    if (before !== 'ONLINE') {
      s.status = 'ONLINE';
      s.statusAt = now;
      this.opts.events.emit('deviceOnline', { ...id });
    }
  }

  // ---- downstream -------------------------------------------------------------------------------------------

  private async send(topic: string, payload: Buffer, qos: 0 | 1, properties?: Mqtt5Properties): Promise<void> {
    const link = this.link;
    if (!link) throw new Error('the MQTT side of the simulator is not running');
    await link.publish(topic, payload, { qos, ...(properties ? { properties } : {}) });
    this.opts.events.emit('downstream', { topic, payload, qos });
  }

  private request(id: string, method: string, params: unknown): Buffer {
    const req: AlinkRequest = { id, version: '1.0', params, method };
    return Buffer.from(JSON.stringify(req));
  }

  /** SetDeviceProperty: an Alink property-set request; resolves with its message id. */
  async setProperties(id: DeviceId, items: Record<string, unknown>): Promise<string> {
    this.assertSubDeviceReachable(id);
    const msgId = this.alinkIds.nextId();
    if (this.channels.raw.isRaw(id.productKey)) {
      await this.channels.raw.sendRequest(id, { id: msgId, version: '1.0', params: items, method: AlinkMethods.PROPERTY_SET }, this.opts.downstreamQos);
      return msgId;
    }
    await this.send(deviceTopics(id).propertySet, this.request(msgId, AlinkMethods.PROPERTY_SET, items), this.opts.downstreamQos);
    return msgId;
  }

  /** An async service call on `thing/service/{id}`; resolves with its message id. */
  async invokeAsync(id: DeviceId, serviceId: string, args: unknown): Promise<string> {
    this.assertSubDeviceReachable(id);
    const msgId = this.alinkIds.nextId();
    if (this.channels.raw.isRaw(id.productKey)) {
      await this.channels.raw.sendRequest(id, { id: msgId, version: '1.0', params: args, method: serviceMethod(serviceId) }, this.opts.downstreamQos, serviceId);
      return msgId;
    }
    await this.send(deviceTopics(id).service(serviceId), this.request(msgId, serviceMethod(serviceId), args), this.opts.downstreamQos);
    return msgId;
  }

  /**
   * A sync service call over RRPC, waiting for the reply: for a device that connected with the `ext` bit on
   * `/ext/rrpc/{rrpcId}/sys/{pk}/{dn}/thing/service/{id}` (answered on the same topic), for the others on
   * `/sys/{pk}/{dn}/rrpc/request/{rrpcId}` (docs/protocol/sdk-compat.md).
   */
  async invokeSync(id: DeviceId, serviceId: string, args: unknown, timeoutMs: number): Promise<SyncServiceOutcome> {
    const msgId = this.alinkIds.nextId();
    const reachability = this.reachability(id);
    if (reachability !== 'ONLINE') return { reachability, messageId: msgId };
    const rrpcId = String(this.rrpcIds.nextId());
    const topics = deviceTopics(id);
    if (this.channels.raw.isRaw(id.productKey)) return this.invokeRaw(id, rrpcId, msgId, serviceId, args, timeoutMs, reachability);
    const ext = this.opts.mode !== 'external' && this.extRrpcEnabled(id);
    const requestTopic = ext ? extRrpcTopic(rrpcId, topics.service(serviceId)) : topics.rrpcRequest(rrpcId);
    const answer = this.pending.wait(rrpcId, id, ext ? requestTopic : topics.rrpcResponse(rrpcId), timeoutMs);
    await this.sendOrCancel(rrpcId, requestTopic, this.request(msgId, serviceMethod(serviceId), args));
    const payload = await answer;
    if (!payload) return { reachability, messageId: msgId };
    const parsed = parseJson(payload);
    if (parsed.ok && isPlainObject(parsed.value) && typeof parsed.value.code === 'number') {
      return { reachability, messageId: msgId, reply: parsed.value as unknown as AlinkReply };
    }
    return { reachability, messageId: msgId, rawReply: payload };
  }

  /**
   * A sync service of a custom-format product: the script's bytes over `/ext/rrpc/{id}/sys/{pk}/{dn}/thing/model/down_raw`
   * (answered on the same topic, docs/protocol/raw-data.md), the answer decoded by the script.
   */
  private async invokeRaw(id: DeviceId, rrpcId: string, msgId: string, serviceId: string, args: unknown, timeoutMs: number, reachability: Reachability): Promise<SyncServiceOutcome> {
    const bytes = await this.channels.raw.encode(id, { id: msgId, version: '1.0', params: args, method: serviceMethod(serviceId) });
    const topic = extRrpcTopic(rrpcId, channelTopics(id).downRaw);
    const answer = this.pending.wait(rrpcId, id, topic, timeoutMs);
    await this.sendOrCancel(rrpcId, topic, bytes);
    const payload = await answer;
    if (!payload) return { reachability, messageId: msgId };
    const decoded = await this.channels.raw.decode(id.productKey, payload);
    if (!decoded.ok) return { reachability, messageId: msgId, scriptError: { code: decoded.code, message: decoded.message } };
    return { reachability, messageId: msgId, reply: decoded.value as unknown as AlinkReply };
  }

  /** The RRpc API: raw bytes to the device, on the RRPC topic or the custom-topic form, and its answer. */
  async rrpc(id: DeviceId, request: Buffer, timeoutMs: number, customTopic?: string): Promise<RrpcOutcome> {
    const reachability = this.reachability(id);
    if (reachability !== 'ONLINE') return { rrpcCode: reachability, messageId: 0 };
    const messageId = this.rrpcIds.nextId();
    const rrpcId = String(messageId);
    const topics = deviceTopics(id);
    const requestTopic = customTopic ? extRrpcTopic(rrpcId, customTopic) : topics.rrpcRequest(rrpcId);
    const responseTopic = customTopic ? requestTopic : topics.rrpcResponse(rrpcId);
    const answer = this.pending.wait(rrpcId, id, responseTopic, timeoutMs);
    if (customTopic && !this.extRrpcEnabled(id)) {
      // The platform delivers custom-topic RRPC only to devices that announced ext=1 in their clientId.
      this.opts.logger.warn({ device: `${id.productKey}/${id.deviceName}`, topic: requestTopic }, 'custom-topic RRPC not delivered: the device connected without ext=1');
    } else {
      await this.sendOrCancel(rrpcId, requestTopic, request);
    }
    const payload = await answer;
    return payload ? { rrpcCode: 'SUCCESS', messageId, payload } : { rrpcCode: 'TIMEOUT', messageId };
  }

  /** Sends an RRPC request (QoS 0); if it cannot be sent, the waiting call is dropped before the error goes up. */
  private async sendOrCancel(rrpcId: string, topic: string, payload: Buffer): Promise<void> {
    try {
      await this.send(topic, payload, 0);
    } catch (e) {
      this.pending.cancel(rrpcId);
      throw e;
    }
  }

  private extRrpcEnabled(id: DeviceId): boolean {
    if (this.opts.mode === 'external') return true;
    const ext = Number(this.opts.state.peek(id.productKey, id.deviceName)?.clientParams?.ext ?? '0');
    return Number.isInteger(ext) && (ext & 1) === 1;
  }

  /** The Pub API: a custom-topic message; resolves with the message id (a string, beyond 2^53 is fine there). */
  async pub(topic: string, payload: Buffer, qos: 0 | 1, properties?: Mqtt5Properties): Promise<string> {
    const owner = topicOwner(topic);
    if (owner) this.assertSubDeviceReachable(owner);
    const messageId = String(this.pubIds.nextId());
    const useProps = properties && this.link?.mode !== 'embedded' ? properties : undefined;
    if (properties && !useProps) {
      this.opts.logger.debug({ topic }, 'MQTT 5 properties dropped: the embedded broker speaks MQTT 3.1.1');
    }
    await this.send(topic, payload, qos, useProps);
    return messageId;
  }

  // ---- upstream ---------------------------------------------------------------------------------------------

  uplink(topic: string, payload: Buffer, origin?: DeviceId): void {
    if (this.gatewayChannel.uplink(topic, payload, origin)) return;
    let from = origin;
    const owner = origin && topicOwner(topic);
    if (origin && owner && (owner.productKey !== origin.productKey || owner.deviceName !== origin.deviceName)) {
      // A gateway speaking for a sub-device: accepted while the sub-device is logged in through it.
      from = this.gatewayChannel.actingFor(origin, owner, topic);
      if (!from) return;
    }
    this.upstream.uplink(topic, payload, from);
  }

  /**
   * A sub-device has no connection of its own: without a session through its gateway nothing can carry the
   * message, so the platform refuses at once (docs/protocol/gateway-platform.md, "Cloud calls").
   */
  private assertSubDeviceReachable(id: DeviceId): void {
    if (this.opts.mode === 'external' || this.opts.registry.product(id.productKey)?.nodeType !== 'sub') return;
    if (!this.gateways.sessionOf(id)) throw ApiErrors.deviceOffline(`${id.productKey}/${id.deviceName} is not logged in through a gateway`);
  }

  /** Whether the gateway `gw` may use the sub-device `owner`'s topics: `receive` only while logged in through it. */
  mayProxy(gw: DeviceId, owner: DeviceId, use: 'publish' | 'subscribe' | 'receive'): boolean {
    if (this.opts.registry.product(gw.productKey)?.nodeType !== 'gateway') return false;
    if (this.opts.registry.product(owner.productKey)?.nodeType !== 'sub') return false;
    const same = (d?: DeviceId) => !!d && d.productKey === gw.productKey && d.deviceName === gw.deviceName;
    // A sub-device deleted from this gateway: its publishes still reach the platform, which answers 521.
    if (!this.opts.registry.device(owner.productKey, owner.deviceName)) return use === 'publish' && same(this.gateways.deletedFrom(owner));
    if (use === 'receive') return same(this.gateways.sessionOf(owner));
    // Publishing for a sub-device that is not logged in reaches the platform, which answers /ext/error 520.
    if (use === 'publish') return true;
    return same(this.gateways.gatewayOf(owner)) || same(this.gateways.sessionOf(owner));
  }
}
