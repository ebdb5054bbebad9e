/**
 * The upstream API: property posts, event posts and custom-topic publishes, each validated against the Thing
 * Model, serialized TSL-aware (floats keep a decimal point) and, for posts, matched with the platform's
 * `_reply` by message id with a timeout.
 */
import type { Logger } from 'pino';
import Ajv from 'ajv';
import type { CompiledThingModel } from '../../thing-model';
import { AlinkCodes, CloudReplyError, ValidationError } from '../../thing-model/codes';
import { AlinkMethods, deviceTopics, eventMethod, hasWildcard, MessageIdGenerator, resolveUserTopic, type DeviceIdentity, type DeviceTopics } from '../../thing-model/wire';
import type { PublishReceipt, Uplink } from '../transport';
import { TopicError, type BatchPost, type CloudReply, type CustomPublishOptions, type EventPostOptions, type PostOptions, type Upstream } from '../../handlers/api';
import { PendingReplies, type ParsedReply } from './pending';
import { checkBatch } from './batch';

export interface UpstreamOptions {
  identity: DeviceIdentity;
  model: CompiledThingModel;
  uplink: Uplink;
  logger: Logger;
  /** Default wait for a `_reply`; 10 s when absent. */
  replyTimeoutMs?: number;
  /** Per-agent id source; a fresh one when absent. */
  ids?: MessageIdGenerator;
  /** The agent's corrected clock (agent/clock); `Date.now` when absent. */
  now?: () => number;
}

const REPLY_SCHEMA = {
  type: 'object',
  required: ['id', 'code'],
  properties: {
    id: { type: 'string' },
    code: { type: 'integer' },
    message: { type: 'string' },
  },
};

/** The agent's upstream: the public `Upstream` plus what the router needs (reply routing, pre-validated posts). */
export class AlinkUpstream implements Upstream {
  private readonly topics: DeviceTopics;
  private readonly pending = new PendingReplies();
  /** The agent's upstream id source; the state channels draw from it too (ids unique per device and day). */
  readonly ids: MessageIdGenerator;
  private readonly replyTimeoutMs: number;
  private readonly checkReply: (v: unknown) => boolean;
  private readonly eventTopics = new Map<string, string>();

  constructor(private readonly opts: UpstreamOptions) {
    this.topics = deviceTopics(opts.identity);
    this.ids = opts.ids ?? new MessageIdGenerator();
    this.replyTimeoutMs = opts.replyTimeoutMs ?? 10_000;
    this.checkReply = new Ajv().compile(REPLY_SCHEMA);
    for (const ev of opts.model.model.events) {
      // The implicit `post` event is the property post, not an event of its own (docs/protocol/tsl.md, "Implicit entries").
      if (ev.method !== AlinkMethods.PROPERTY_POST) this.eventTopics.set(ev.identifier, this.topics.eventPost(ev.identifier));
    }
  }

  now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  /** Requests still waiting for a reply. */
  get pendingCount(): number {
    return this.pending.size;
  }

  postProperties(values: Record<string, unknown>, opts?: PostOptions): Promise<CloudReply> {
    const v = this.opts.model.validatePropertyPost(values);
    if (!v.ok) return Promise.reject(new ValidationError(v.errors, v.message));
    return this.postValidated(v.value as Record<string, unknown>, opts);
  }

  /** For values the router has already validated (a property set's new values). */
  postValidated(params: Record<string, unknown>, opts?: PostOptions): Promise<CloudReply> {
    const id = this.ids.nextId();
    const payload = this.opts.model.stringifyPropertyPost({
      id,
      version: '1.0',
      sys: { ack: 1 },
      params,
      method: AlinkMethods.PROPERTY_POST,
    });
    return this.send(this.topics.propertyPost, id, payload, 'property', opts);
  }

  postEvent(eventId: string, value: Record<string, unknown>, opts?: EventPostOptions): Promise<CloudReply> {
    const topic = this.eventTopics.get(eventId);
    if (topic === undefined) {
      return Promise.reject(
        new ValidationError([{ field: 'eventId', reason: 'unknown', expected: 'an event of the Thing Model', received: eventId, message: `${eventId}: unknown event` }], `${eventId}: unknown event`),
      );
    }
    const v = this.opts.model.validateEventOutput(eventId, value);
    if (!v.ok) return Promise.reject(new ValidationError(v.errors, v.message));
    const id = this.ids.nextId();
    // Stamped here, not by the platform on arrival: the post may wait in the outbox (docs/protocol/ntp.md).
    const params: { value: unknown; time: number } = { value: v.value, time: opts?.time ?? this.now() };
    const payload = this.opts.model.stringifyEventPost(eventId, {
      id,
      version: '1.0',
      sys: { ack: 1 },
      params,
      method: eventMethod(eventId),
    });
    return this.send(topic, id, payload, 'event', opts);
  }

  postBatch(batch: BatchPost, opts?: PostOptions): Promise<CloudReply> {
    const checked = checkBatch(this.opts.model, batch);
    if (checked instanceof ValidationError) return Promise.reject(checked);
    const id = this.ids.nextId();
    const payload = JSON.stringify({ id, version: '1.0', sys: { ack: 1 }, params: checked, method: AlinkMethods.PROPERTY_BATCH_POST });
    return this.send(this.topics.propertyBatchPost, id, payload, 'property', opts);
  }

  publish(topic: string, payload: string | Buffer, opts?: CustomPublishOptions): Promise<PublishReceipt> {
    let full: string;
    try {
      full = this.customTopic(topic);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.opts.uplink.publish(full, payload, { qos: opts?.qos ?? 0, properties: opts?.properties, messageClass: 'custom' });
  }

  /** A `post_reply` from the platform (property or event). Never throws. */
  handleReply(payload: Buffer): void {
    let reply: unknown;
    try {
      reply = JSON.parse(payload.toString('utf8'));
    } catch {
      this.opts.logger.warn({ payload: payload.toString('utf8', 0, 200) }, 'platform reply is not JSON; dropped');
      return;
    }
    if (!this.checkReply(reply)) {
      this.opts.logger.warn({ reply }, 'platform reply without a string id and an integer code; dropped');
      return;
    }
    const r = reply as ParsedReply;
    if (!this.pending.settle(r)) this.opts.logger.debug({ id: r.id, code: r.code }, 'reply nobody waits for (late or duplicate)');
  }

  private async send(topic: string, id: string, payload: string, messageClass: string, opts: PostOptions | undefined): Promise<CloudReply> {
    const replied = this.pending.wait(id, topic, opts?.timeoutMs ?? this.replyTimeoutMs);
    // The timer may fire while the uplink is still persisting; this keeps that from counting as unhandled.
    replied.catch(ignore);
    try {
      const receipt = await this.opts.uplink.publish(topic, payload, { qos: opts?.qos ?? 1, messageClass });
      // The reply is what callers wait for; a lost PUBACK shows up as a reply timeout.
      receipt.acked.catch(ignore);
    } catch (err) {
      this.pending.fail(id, err as Error);
    }
    const r = await replied;
    if (r.code !== AlinkCodes.SUCCESS) throw new CloudReplyError(r.code, r.message ?? `platform answered ${r.code}`);
    return { id: r.id, code: AlinkCodes.SUCCESS, data: r.data ?? {}, message: r.message };
  }

  private customTopic(topic: string): string {
    if (hasWildcard(topic)) throw new TopicError(`topic ${topic}: wildcards cannot be published to`);
    const r = resolveUserTopic(topic, this.topics.userPrefix);
    if ('problem' in r) throw new TopicError(r.problem === 'empty' ? 'topic: empty' : `topic ${topic}: not under ${this.topics.userPrefix}`);
    return r.topic;
  }
}

function ignore(): void {}
