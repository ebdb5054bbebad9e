/**
 * What devices send, routed: posts to {@link Posts}, answers to waiting calls to {@link PendingCalls}, replies
 * to platform requests into the device's reply ring, NTP requests answered, custom topics emitted.
 */
import type { Logger } from 'pino';
import { isPlainObject } from '../../thing-model';
import { parseTopic } from '../../thing-model/wire';
import type { Registry } from '../registry';
import type { DeviceReply, DeviceStateStore } from '../state/device-state';
import type { SimulatorEventBus } from '../events';
import type { DeviceId } from './acl';
import type { DeviceChannels } from './channels';
import type { PendingCalls } from './pending-calls';
import { parseJson, Posts } from './posts';

export interface UpstreamOptions {
  registry: Registry;
  state: DeviceStateStore;
  events: SimulatorEventBus;
  logger: Logger;
  pending: PendingCalls;
  /** Publishes a platform answer (QoS 0). */
  send(topic: string, payload: Buffer): Promise<void>;
  /** The device sent something: presence bookkeeping. */
  seen(id: DeviceId): void;
  /** Raw data, remote configuration, tags, log upload (simulator/mqtt/channels.ts). */
  channels?: DeviceChannels;
  /** Channels that take their own topics first (device-channels.ts); true when one took the message. */
  stateChannels?: (topic: string, payload: Buffer, origin?: DeviceId) => boolean;
  /** The OTA topics (simulator/ota/device-side.ts); true when it took the message. */
  ota?: (topic: string, payload: Buffer, origin?: DeviceId) => boolean;
  /** The gateway a sub-device has topology with (pack posts). */
  gatewayOf?: (sub: DeviceId) => DeviceId | undefined;
}

const NTP_REQUEST = /^\/ext\/ntp\/([^/]+)\/([^/]+)\/request$/;

export class Upstream {
  private readonly posts: Posts;

  constructor(private readonly opts: UpstreamOptions) {
    this.posts = new Posts(opts);
  }

  /** Never throws: a message that breaks a handler is logged and dropped. */
  uplink(topic: string, payload: Buffer, origin?: DeviceId): void {
    try {
      this.route(topic, payload, origin);
    } catch (e) {
      this.opts.logger.error({ topic, err: (e as Error).message }, 'handling a device message failed');
    }
  }

  private route(topic: string, payload: Buffer, origin?: DeviceId): void {
    if (this.opts.channels?.uplink(topic, payload, origin)) return;
    if (this.opts.stateChannels?.(topic, payload, origin)) return;
    if (this.opts.ota?.(topic, payload, origin)) return this.seenOta(topic, origin);
    const kind = parseTopic(topic);
    if (kind.kind === 'extRrpc') return this.onExtRrpc(kind.messageId, kind.customTopic, topic, payload, origin);
    if (kind.kind === 'other') {
      const ntp = NTP_REQUEST.exec(topic);
      if (ntp) return this.answerNtp({ productKey: ntp[1]!, deviceName: ntp[2]! }, payload, origin);
      this.opts.events.emit('deviceMessage', { ...(origin ?? {}), topic, payload });
      return;
    }
    const id = { productKey: kind.productKey, deviceName: kind.deviceName };
    if (origin && !same(origin, id)) return;
    if (!this.opts.registry.device(id.productKey, id.deviceName)) {
      this.opts.logger.debug({ topic }, 'message for an unknown device ignored');
      return;
    }
    switch (kind.kind) {
      case 'propertyPost':
        this.opts.seen(id);
        return this.posts.propertyPost(id, topic, payload);
      case 'propertyBatchPost':
        this.opts.seen(id);
        return this.posts.batchPost(id, topic, payload);
      case 'propertyHistoryPost':
        this.opts.seen(id);
        return this.posts.historyPost(id, topic, payload);
      case 'propertyPackPost':
        this.opts.seen(id);
        return this.posts.packPost(id, topic, payload);
      case 'eventPost':
        this.opts.seen(id);
        return this.posts.eventPost(id, kind.eventId, topic, payload);
      case 'propertySetReply':
        this.opts.seen(id);
        return this.recordAlinkReply(id, 'propertySetReply', topic, payload);
      case 'serviceReply':
        this.opts.seen(id);
        return this.recordAlinkReply(id, 'serviceReply', topic, payload, kind.serviceId);
      case 'rrpcResponse': {
        this.opts.seen(id);
        const answered = this.opts.pending.settle(kind.messageId, topic, payload, id);
        return this.recordReply(id, { kind: 'rrpcResponse', topic, id: kind.messageId, payload, late: !answered, ...jsonParts(payload) });
      }
      case 'user':
        this.opts.seen(id);
        this.opts.events.emit('deviceMessage', { ...id, topic, payload });
        return;
      default:
        // Downstream kinds (property/set, service calls, rrpc/request, post replies) published by someone else.
        return;
    }
  }

  /** Presence bookkeeping for an OTA message: the sender, or the device its topic names. */
  private seenOta(topic: string, origin?: DeviceId): void {
    const parts = topic.split('/');
    const id = origin ?? (parts[1] === 'sys' ? { productKey: parts[2]!, deviceName: parts[3]! } : { productKey: parts[4]!, deviceName: parts[5]! });
    if (this.opts.registry.device(id.productKey, id.deviceName)) this.opts.seen(id);
  }

  /** `/ext/rrpc/{id}{topic}`: a custom-topic RRPC answer, or an `ext` device's sync-service reply. */
  private onExtRrpc(messageId: string, customTopic: string, topic: string, payload: Buffer, origin?: DeviceId): void {
    const owner = this.ownerOf(customTopic);
    if (origin && owner && !same(origin, owner)) return;
    const answered = this.opts.pending.settle(messageId, topic, payload, origin);
    const who = origin ?? owner;
    if (!who) return;
    this.opts.seen(who);
    const service = parseTopic(customTopic);
    const serviceId = service.kind === 'service' ? { serviceId: service.serviceId } : {};
    this.recordReply(who, { kind: 'extRrpcResponse', topic, id: messageId, payload, late: !answered, ...serviceId, ...jsonParts(payload) });
  }

  private ownerOf(customTopic: string): DeviceId | undefined {
    const k = parseTopic(customTopic);
    if (k.kind === 'other' || k.kind === 'extRrpc') return undefined;
    return this.opts.registry.device(k.productKey, k.deviceName) ? { productKey: k.productKey, deviceName: k.deviceName } : undefined;
  }

  private recordReply(id: DeviceId, r: Omit<DeviceReply, 'productKey' | 'deviceName' | 'receivedAt'>): void {
    const reply: DeviceReply = { ...id, ...r, receivedAt: Date.now() };
    this.opts.state.get(id.productKey, id.deviceName).replies.push(reply);
    this.opts.events.emit('deviceReply', reply);
  }

  private recordAlinkReply(id: DeviceId, kind: 'propertySetReply' | 'serviceReply', topic: string, payload: Buffer, serviceId?: string): void {
    const parts = jsonParts(payload);
    const json = parts.json;
    this.recordReply(id, {
      kind,
      topic,
      payload,
      ...(serviceId ? { serviceId } : {}),
      ...parts,
      ...(isPlainObject(json)
        ? { id: json.id === undefined ? undefined : String(json.id), message: typeof json.message === 'string' ? json.message : undefined }
        : {}),
    });
  }

  private answerNtp(id: DeviceId, payload: Buffer, origin?: DeviceId): void {
    if (origin && !same(origin, id)) return;
    const parsed = parseJson(payload);
    const sent = parsed.ok && isPlainObject(parsed.value) ? parsed.value.deviceSendTime : undefined;
    const now = String(Date.now());
    const body = { deviceSendTime: sent === undefined ? '' : String(sent), serverRecvTime: now, serverSendTime: now };
    this.opts.send(`/ext/ntp/${id.productKey}/${id.deviceName}/response`, Buffer.from(JSON.stringify(body))).catch(() => undefined);
  }
}

function same(a: DeviceId, b: DeviceId): boolean {
  return a.productKey === b.productKey && a.deviceName === b.deviceName;
}

/** The parsed JSON of an answer, with its `code` and `data` when it is an object. */
function jsonParts(payload: Buffer): { json?: unknown; code?: number; data?: unknown } {
  const parsed = parseJson(payload);
  if (!parsed.ok || !isPlainObject(parsed.value)) return {};
  const json = parsed.value;
  return { json, code: typeof json.code === 'number' ? json.code : undefined, data: json.data };
}
