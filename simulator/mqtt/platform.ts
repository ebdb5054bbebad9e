/**
 * The platform's half of Alink: answers property and event posts on `_reply` (200, or the cloud's TSL error
 * codes), keeps last values and recent events, records the replies devices send to platform requests, answers
 * NTP requests, tracks presence, and sends what the cloud APIs ask for (property set, services, RRPC, Pub).
 *
 * Presence: the embedded broker reports connections, so status is exact there. An external broker reports none,
 * so in that mode a device counts as ONLINE while its last upstream message is younger than
 * mqtt.presenceWindowSeconds, OFFLINE after that, UNACTIVE before its first message; and RRPC calls are always
 * sent (their result is SUCCESS or TIMEOUT, never OFFLINE/HALFCONN, which cannot be known there).
 */
import type { Logger } from 'pino';
import { AlinkMethods, parseTopic, deviceTopics, eventMethod, extRrpcTopic, MessageIdGenerator, serviceMethod } from '../../thing-model/wire';
import type { AlinkReply, AlinkRequest } from '../../thing-model/wire';
import { AlinkCodes, isPlainObject, MAX_POST_PROPERTIES } from '../../thing-model';
import type { PropertyDef } from '../../thing-model';
import type { Registry } from '../registry';
import type { DeviceReply, DeviceStateStore, DeviceStatus, Reachability } from '../state/device-state';
import type { SimulatorEventBus } from '../events';
import type { DeviceId } from './acl';
import { cloudCodeFor } from './cloud-codes';
import type { Mqtt5Properties, MqttLink, UplinkSink } from './link';
import { PendingCalls } from './pending-calls';

export interface PlatformOptions {
  mode: 'embedded' | 'external';
  registry: Registry;
  state: DeviceStateStore;
  events: SimulatorEventBus;
  logger: Logger;
  downstreamQos: 0 | 1;
  presenceWindowMs: number;
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
}

const METHOD_PROPERTY_POST = AlinkMethods.PROPERTY_POST;

/** Large, increasing RRPC message ids that stay exact in a JSON number (≤ 2^53−1, docs/protocol/wire-capture.md, "Cloud OpenAPI SDK: responses"). */
class RrpcIdGenerator {
  private next = Date.now() * 1024;
  nextId(): number {
    return this.next++;
  }
}

function parseJson(payload: Buffer): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(payload.toString('utf8')) };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

export class Platform implements UplinkSink {
  private link?: MqttLink;
  private readonly pending = new PendingCalls();
  private readonly alinkIds = new MessageIdGenerator();
  private readonly rrpcIds = new RrpcIdGenerator();
  private readonly pubIds = new RrpcIdGenerator();

  constructor(private readonly opts: PlatformOptions) {}

  attach(link: MqttLink): void {
    this.link = link;
  }

  /** Ends every waiting call (they answer TIMEOUT). */
  close(): void {
    this.pending.cancelAll();
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
  }

  deviceDisconnected(id: DeviceId, info: { clientId: string; graceful: boolean }): void {
    this.opts.state.markOffline(id.productKey, id.deviceName, info.graceful, Date.now());
    this.opts.logger.info({ device: `${id.productKey}/${id.deviceName}`, clientId: info.clientId, graceful: info.graceful }, 'device offline');
    this.opts.events.emit('deviceOffline', { ...id, graceful: info.graceful });
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
    const msgId = this.alinkIds.nextId();
    await this.send(deviceTopics(id).propertySet, this.request(msgId, AlinkMethods.PROPERTY_SET, items), this.opts.downstreamQos);
    return msgId;
  }

  /** An async service call on `thing/service/{id}`; resolves with its message id. */
  async invokeAsync(id: DeviceId, serviceId: string, args: unknown): Promise<string> {
    const msgId = this.alinkIds.nextId();
    await this.send(deviceTopics(id).service(serviceId), this.request(msgId, serviceMethod(serviceId), args), this.opts.downstreamQos);
    return msgId;
  }

  /** A sync service call over RRPC: the Alink request on `/rrpc/request/{rrpcId}`, waiting for the reply. */
  async invokeSync(id: DeviceId, serviceId: string, args: unknown, timeoutMs: number): Promise<SyncServiceOutcome> {
    const msgId = this.alinkIds.nextId();
    const reachability = this.reachability(id);
    if (reachability !== 'ONLINE') return { reachability, messageId: msgId };
    const rrpcId = String(this.rrpcIds.nextId());
    const topics = deviceTopics(id);
    const answer = this.pending.wait(rrpcId, id, topics.rrpcResponse(rrpcId), timeoutMs);
    await this.sendOrCancel(rrpcId, topics.rrpcRequest(rrpcId), this.request(msgId, serviceMethod(serviceId), args));
    const payload = await answer;
    if (!payload) return { reachability, messageId: msgId };
    const parsed = parseJson(payload);
    if (parsed.ok && isPlainObject(parsed.value) && typeof parsed.value.code === 'number') {
      return { reachability, messageId: msgId, reply: parsed.value as unknown as AlinkReply };
    }
    return { reachability, messageId: msgId, rawReply: payload };
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
    const messageId = String(this.pubIds.nextId());
    const useProps = properties && this.link?.mode === 'external' ? properties : undefined;
    if (properties && !useProps) {
      this.opts.logger.debug({ topic }, 'MQTT 5 properties dropped: the embedded broker speaks MQTT 3.1.1');
    }
    await this.send(topic, payload, qos, useProps);
    return messageId;
  }

  // ---- upstream ---------------------------------------------------------------------------------------------

  uplink(topic: string, payload: Buffer, origin?: DeviceId): void {
    try {
      this.route(topic, payload, origin);
    } catch (e) {
      this.opts.logger.error({ topic, err: (e as Error).message }, 'handling a device message failed');
    }
  }

  private route(topic: string, payload: Buffer, origin?: DeviceId): void {
    const kind = parseTopic(topic);
    if (kind.kind === 'extRrpc') {
      const answered = this.pending.settle(kind.messageId, topic, payload, origin);
      const owner = origin ?? this.ownerOfCustomTopic(kind.customTopic);
      if (owner) {
        this.seen(owner);
        this.recordReply(owner, { kind: 'extRrpcResponse', topic, id: kind.messageId, payload, late: !answered });
      }
      return;
    }
    if (kind.kind === 'other') {
      const ntp = /^\/ext\/ntp\/([^/]+)\/([^/]+)\/request$/.exec(topic);
      if (ntp) return this.answerNtp({ productKey: ntp[1]!, deviceName: ntp[2]! }, payload);
      this.opts.events.emit('deviceMessage', { ...(origin ?? {}), topic, payload });
      return;
    }
    const id = { productKey: kind.productKey, deviceName: kind.deviceName };
    if (origin && (origin.productKey !== id.productKey || origin.deviceName !== id.deviceName)) return;
    if (!this.opts.registry.device(id.productKey, id.deviceName)) {
      this.opts.logger.debug({ topic }, 'message for an unknown device ignored');
      return;
    }
    switch (kind.kind) {
      case 'propertyPost':
        this.seen(id);
        return this.onPropertyPost(id, topic, payload);
      case 'eventPost':
        this.seen(id);
        return this.onEventPost(id, kind.eventId, topic, payload);
      case 'propertySetReply':
        this.seen(id);
        return this.recordAlinkReply(id, 'propertySetReply', topic, payload);
      case 'serviceReply':
        this.seen(id);
        return this.recordAlinkReply(id, 'serviceReply', topic, payload, kind.serviceId);
      case 'rrpcResponse': {
        this.seen(id);
        const answered = this.pending.settle(kind.messageId, topic, payload, id);
        const parsed = parseJson(payload);
        const json = parsed.ok ? parsed.value : undefined;
        return this.recordReply(id, {
          kind: 'rrpcResponse',
          topic,
          id: kind.messageId,
          payload,
          late: !answered,
          ...(isPlainObject(json) ? { json, code: typeof json.code === 'number' ? json.code : undefined, data: json.data } : {}),
        });
      }
      case 'user':
        this.seen(id);
        this.opts.events.emit('deviceMessage', { ...id, topic, payload });
        return;
      default:
        // Downstream kinds (property/set, service calls, rrpc/request) published by someone else: not ours.
        return;
    }
  }

  private ownerOfCustomTopic(customTopic: string): DeviceId | undefined {
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
    const parsed = parseJson(payload);
    const json = parsed.ok ? parsed.value : undefined;
    this.recordReply(id, {
      kind,
      topic,
      payload,
      ...(serviceId ? { serviceId } : {}),
      ...(isPlainObject(json)
        ? {
            json,
            id: json.id === undefined ? undefined : String(json.id),
            code: typeof json.code === 'number' ? json.code : undefined,
            data: json.data,
            message: typeof json.message === 'string' ? json.message : undefined,
          }
        : {}),
    });
  }

  /** Answers on `{request topic}_reply` unless the request asked for no reply (`sys.ack: 0`). */
  private replyTo(topic: string, req: Record<string, unknown> | undefined, method: string, code: number, message: string): void {
    const sys = req && isPlainObject(req.sys) ? req.sys : undefined;
    if (sys && sys.ack === 0) return;
    const reply: Record<string, unknown> = { code, data: {} };
    // The official device SDK matches replies by the request id, byte for byte (docs/protocol/wire-capture.md, "Device SDK: subscriptions and messages").
    if (req && req.id !== undefined) reply.id = req.id;
    reply.message = message;
    reply.method = method;
    reply.version = '1.0';
    this.send(`${topic}_reply`, Buffer.from(JSON.stringify(reply)), 0).catch((e: Error) =>
      this.opts.logger.warn({ topic, err: e.message }, 'could not send a post reply'),
    );
  }

  /** Parses an upstream Alink request; on failure answers 460 (without an id when there is none to echo). */
  private parseRequest(topic: string, payload: Buffer, method: string): Record<string, unknown> | undefined {
    const parsed = parseJson(payload);
    if (!parsed.ok || !isPlainObject(parsed.value)) {
      const why = parsed.ok ? 'the payload is JSON but not an object' : `the payload is not JSON (${parsed.error})`;
      this.replyTo(topic, undefined, method, AlinkCodes.PARAM_ERROR, `request error: ${why}`);
      return undefined;
    }
    const req = parsed.value;
    if (req.id === undefined || req.params === undefined) {
      this.replyTo(topic, req, method, AlinkCodes.PARAM_ERROR, `request error: expected "id" and "params", received keys ${Object.keys(req).join(', ') || 'none'}`);
      return undefined;
    }
    if (req.method !== undefined && req.method !== method) {
      this.replyTo(topic, req, method, AlinkCodes.TSL_METHOD_NOT_EXIST, `method: expected "${method}" on ${topic}, received ${JSON.stringify(req.method)}`);
      return undefined;
    }
    return req;
  }

  private onPropertyPost(id: DeviceId, topic: string, payload: Buffer): void {
    const req = this.parseRequest(topic, payload, METHOD_PROPERTY_POST);
    if (!req) return;
    const model = this.opts.registry.product(id.productKey)!.model;
    const params = req.params;
    let code: number = AlinkCodes.SUCCESS;
    let message = 'success';
    if (!isPlainObject(params)) {
      code = AlinkCodes.TSL_PARAMS_NOT_OBJECT;
      message = 'params: expected an object of property identifiers and values';
    } else if (Object.keys(params).length === 0) {
      code = AlinkCodes.TSL_PARAMS_EMPTY;
      message = 'params: expected at least one property, received none';
    } else if (Object.keys(params).length > MAX_POST_PROPERTIES) {
      code = AlinkCodes.POST_TOO_MANY_PROPERTIES;
      message = `params: expected at most ${MAX_POST_PROPERTIES} properties, received ${Object.keys(params).length}`;
    } else {
      const v = model.validatePropertyPost(params);
      if (!v.ok) {
        code = cloudCodeFor(v.errors[0], model.model.properties, 'property');
        message = v.message;
      } else {
        const now = Date.now();
        const props = this.opts.state.get(id.productKey, id.deviceName).properties;
        for (const [identifier, raw] of Object.entries(params)) {
          const def = model.property(identifier)!;
          // A reported value is either bare or {"value": v, "time": ms} (docs/protocol/payloads.md, "Property post").
          const timed = timedForm(raw, def);
          props.set(identifier, timed ? { value: timed.value, time: typeof timed.time === 'number' ? timed.time : now } : { value: raw, time: now });
        }
      }
    }
    this.replyTo(topic, req, METHOD_PROPERTY_POST, code, message);
    this.opts.events.emit('propertyPost', { ...id, id: String(req.id), params, code, ...(code === AlinkCodes.SUCCESS ? {} : { message }) });
  }

  private onEventPost(id: DeviceId, eventId: string, topic: string, payload: Buffer): void {
    const method = eventMethod(eventId);
    const req = this.parseRequest(topic, payload, method);
    if (!req) return;
    const model = this.opts.registry.product(id.productKey)!.model;
    const params = req.params;
    const event = model.event(eventId);
    let code: number = AlinkCodes.SUCCESS;
    let message = 'success';
    if (!event) {
      code = AlinkCodes.TSL_METHOD_NOT_EXIST;
      message = `method: ${method} is not an event of product ${id.productKey}`;
    } else if (!isPlainObject(params) || !('value' in params)) {
      code = AlinkCodes.PARAM_ERROR;
      message = 'params: expected {"value": {...}, "time": ms}';
    } else {
      const v = model.validateEventOutput(eventId, params.value);
      if (!v.ok) {
        code = cloudCodeFor(v.errors[0], event.outputData, 'event');
        message = v.message;
      } else {
        const time = typeof params.time === 'number' ? params.time : Date.now();
        this.opts.state.get(id.productKey, id.deviceName).events.push({
          identifier: eventId,
          eventType: event.type,
          name: event.name,
          outputData: JSON.stringify(params.value),
          time,
        });
      }
    }
    this.replyTo(topic, req, method, code, message);
    this.opts.events.emit('eventPost', { ...id, eventId, id: String(req.id), params, code, ...(code === AlinkCodes.SUCCESS ? {} : { message }) });
  }

  private answerNtp(id: DeviceId, payload: Buffer): void {
    const parsed = parseJson(payload);
    const sent = parsed.ok && isPlainObject(parsed.value) ? parsed.value.deviceSendTime : undefined;
    const now = String(Date.now());
    const body = { deviceSendTime: sent === undefined ? '' : String(sent), serverRecvTime: now, serverSendTime: now };
    this.send(`/ext/ntp/${id.productKey}/${id.deviceName}/response`, Buffer.from(JSON.stringify(body)), 0).catch(() => undefined);
  }
}

/**
 * A reported value is either bare or `{"value": v, "time": ms}` (docs/protocol/payloads.md, "Property post"). A struct whose own
 * members are named value/time stays bare when the object fits the struct.
 */
function timedForm(raw: unknown, def: PropertyDef): { value: unknown; time?: unknown } | undefined {
  if (!isPlainObject(raw) || !('value' in raw) || !Object.keys(raw).every((k) => k === 'value' || k === 'time')) return undefined;
  if (def.dataType.type === 'struct') {
    const members = new Set(def.dataType.specs.map((m) => m.identifier));
    if (members.has('value') && Object.keys(raw).every((k) => members.has(k))) return undefined;
  }
  return raw as { value: unknown; time?: unknown };
}

