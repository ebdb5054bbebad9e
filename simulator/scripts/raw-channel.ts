/**
 * The platform's half of custom-format (raw) data (docs/protocol/raw-data.md): for a product whose `dataFormat` is
 * `custom`, cloud requests go through the script's `protocolToRawData` to `thing/model/down_raw`; the device's
 * `down_raw_reply` and `up_raw` come back through `rawDataToProtocol` as Alink JSON (posts are then answered as
 * any post, the answer encoded again for `up_raw_reply`); custom topics published with `?_sn=default` go through
 * `transformPayload`.
 *
 * When the script fails on the way up, nothing can be encoded for the device, so `up_raw_reply` carries the
 * platform's JSON error `{"code": …, "message": …}` instead (as the platform's own examples show for 6813).
 */
import type { Logger } from 'pino';
import { AlinkCodes } from '../../thing-model';
import { AlinkMethods, channelTopics, deviceTopics, eventIdOf, parseTopic, type AlinkRequest } from '../../thing-model/wire';
import { ApiErrors } from '../errors';
import type { SimulatorEventBus } from '../events';
import type { DeviceId } from '../mqtt/acl';
import { Posts } from '../mqtt/posts';
import type { Registry } from '../registry';
import type { DeviceReply, DeviceStateStore } from '../state/device-state';
import type { ScriptResult } from './sandbox';
import type { ThingScripts } from './store';

export const SN_DEFAULT = '?_sn=default';
const SENT_MEMORY = 10_000;

export interface RawChannelOptions {
  registry: Registry;
  scripts: ThingScripts;
  state: DeviceStateStore;
  events: SimulatorEventBus;
  logger: Logger;
  send(topic: string, payload: Buffer, qos: 0 | 1): Promise<void>;
}

export class RawChannel {
  private readonly posts: Posts;
  /** Alink ids of raw requests sent, so a decoded reply is recorded as what it answers. */
  private readonly sent = new Map<string, { kind: 'propertySetReply' | 'serviceReply'; serviceId?: string }>();

  constructor(private readonly opts: RawChannelOptions) {
    this.posts = new Posts({ ...opts, send: (topic, payload) => this.answerPost(topic, payload) });
  }

  isRaw(productKey: string): boolean {
    return this.opts.registry.product(productKey)?.dataFormat === 'custom';
  }

  /** Runs `protocolToRawData` on a request; throws the API error carrying the script's code. */
  async encode(id: DeviceId, req: AlinkRequest | Record<string, unknown>): Promise<Buffer> {
    const runner = this.opts.scripts.runner(id.productKey);
    if (!runner) throw ApiErrors.scriptFailed(AlinkCodes.SCRIPT_RELATION_MISSING, 'the product has no parse script');
    const r = await runner.call<Uint8Array>('protocolToRawData', req);
    if (!r.ok) throw ApiErrors.scriptFailed(r.code, r.message);
    return Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
  }

  /** A cloud request to a raw device: encoded, then published on `down_raw`. */
  async sendRequest(id: DeviceId, req: AlinkRequest, qos: 0 | 1, serviceId?: string): Promise<void> {
    const bytes = await this.encode(id, req);
    this.remember(req.id, serviceId === undefined ? { kind: 'propertySetReply' } : { kind: 'serviceReply', serviceId });
    await this.opts.send(channelTopics(id).downRaw, bytes, qos);
  }

  /** `rawDataToProtocol` on bytes from the device; never rejects. */
  async decode(productKey: string, bytes: Buffer): Promise<ScriptResult<Record<string, unknown>>> {
    const runner = this.opts.scripts.runner(productKey);
    if (!runner) return { ok: false, code: AlinkCodes.SCRIPT_RELATION_MISSING, message: 'the product has no parse script' };
    return runner.call<Record<string, unknown>>('rawDataToProtocol', bytes);
  }

  /** `down_raw_reply`: decoded and recorded as the reply to what was sent (or as a `rawReply` with the script's code). */
  async downRawReply(id: DeviceId, topic: string, payload: Buffer): Promise<void> {
    const r = await this.decode(id.productKey, payload);
    const base = { ...id, topic, payload, receivedAt: Date.now() };
    let reply: DeviceReply;
    if (!r.ok) {
      this.opts.logger.warn({ device: `${id.productKey}/${id.deviceName}`, code: r.code, reason: r.message }, 'raw reply not parsed by the script');
      reply = { ...base, kind: 'rawReply', code: r.code, message: r.message };
    } else {
      const json = r.value;
      const replyId = json.id === undefined ? undefined : String(json.id);
      const was = replyId === undefined ? undefined : this.sent.get(replyId);
      if (replyId !== undefined) this.sent.delete(replyId);
      const code = typeof json.code === 'number' ? json.code : undefined;
      reply = {
        ...base,
        kind: was?.kind ?? 'rawReply',
        ...(was?.serviceId ? { serviceId: was.serviceId } : {}),
        json,
        id: replyId,
        code,
        data: json.data,
        ...(typeof json.message === 'string' ? { message: json.message } : {}),
      };
    }
    this.opts.state.get(id.productKey, id.deviceName).replies.push(reply);
    this.opts.events.emit('deviceReply', reply);
  }

  /** `up_raw`: decoded to an Alink post and answered as one (the answer encoded for `up_raw_reply`). */
  async upRaw(id: DeviceId, payload: Buffer): Promise<void> {
    const r = await this.decode(id.productKey, payload);
    if (!r.ok) return this.jsonError(id, undefined, r.code, r.message);
    const json = r.value;
    const method = json.method;
    if (typeof method !== 'string') return this.jsonError(id, json.id, AlinkCodes.METHOD_NOT_EXIST, 'the parsed data has no "method"');
    const body = Buffer.from(JSON.stringify(json));
    const topics = deviceTopics(id);
    if (method === AlinkMethods.PROPERTY_POST) return this.posts.propertyPost(id, topics.propertyPost, body);
    const eventId = eventIdOf(method);
    if (eventId !== undefined) return this.posts.eventPost(id, eventId, topics.eventPost(eventId), body);
    return this.jsonError(id, json.id, AlinkCodes.TSL_METHOD_NOT_EXIST, `method ${JSON.stringify(method).slice(0, 80)} is not a post`);
  }

  /** A custom topic published with `?_sn=default`: `transformPayload`, emitted as JSON on the topic without the suffix. */
  async customTopic(id: DeviceId, topic: string, payload: Buffer): Promise<void> {
    const plain = topic.slice(0, -SN_DEFAULT.length);
    const runner = this.opts.scripts.runner(id.productKey);
    const r: ScriptResult<Record<string, unknown>> = runner
      ? await runner.call('transformPayload', payload, plain)
      : { ok: false, code: AlinkCodes.SCRIPT_RELATION_MISSING, message: 'the product has no parse script' };
    if (!r.ok) {
      this.opts.logger.warn({ topic, code: r.code, reason: r.message }, 'custom-topic payload not parsed by the script');
      this.opts.events.emit('deviceMessage', { ...id, topic: plain, payload, scriptError: { code: r.code, message: r.message } });
      return;
    }
    this.opts.events.emit('deviceMessage', { ...id, topic: plain, payload: Buffer.from(JSON.stringify(r.value)), parsed: r.value });
  }

  private async answerPost(topic: string, payload: Buffer): Promise<void> {
    const t = parseTopic(topic.replace(/_reply$/, ''));
    if (t.kind === 'other' || t.kind === 'extRrpc') return;
    const id = { productKey: t.productKey, deviceName: t.deviceName };
    const reply = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
    try {
      const bytes = await this.encode(id, reply);
      await this.opts.send(channelTopics(id).upRawReply, bytes, 0);
    } catch (e) {
      const err = e as { message?: string };
      await this.jsonError(id, reply.id, AlinkCodes.SCRIPT_ERROR, err.message ?? 'the script failed');
    }
  }

  private async jsonError(id: DeviceId, requestId: unknown, code: number, message: string): Promise<void> {
    this.opts.logger.warn({ device: `${id.productKey}/${id.deviceName}`, code, reason: message }, 'raw upstream data refused');
    const body: Record<string, unknown> = { code, message };
    if (requestId !== undefined) body.id = String(requestId);
    await this.opts.send(channelTopics(id).upRawReply, Buffer.from(JSON.stringify(body)), 0).catch(() => undefined);
  }

  private remember(requestId: string, what: { kind: 'propertySetReply' | 'serviceReply'; serviceId?: string }): void {
    this.sent.set(requestId, what);
    if (this.sent.size > SENT_MEMORY) this.sent.delete(this.sent.keys().next().value!);
  }
}
