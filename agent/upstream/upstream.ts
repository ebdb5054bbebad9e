/**
 * The upstream API: property posts, event posts and custom-topic publishes, each validated against the Thing
 * Model, serialized TSL-aware (floats keep a decimal point) and, for posts, matched with the platform's
 * `_reply` by message id with a timeout. Every call returns a handle with both moments of its message: `stored`
 * (the uplink accepted it: in the SQLite outbox, fsynced, for QoS 1 on a durable agent) and the answer (the
 * `_reply`, or the PUBACK for custom topics); see handlers/api/upstream.ts.
 */
import type { Logger } from 'pino';
import Ajv from 'ajv';
import type { CompiledThingModel } from '../../thing-model';
import { AlinkCodes, CloudReplyError, ValidationError } from '../../thing-model/codes';
import { AlinkMethods, channelTopics, deviceTopics, eventMethod, hasWildcard, MessageIdGenerator, resolveUserTopic, type ChannelTopics, type DeviceIdentity, type DeviceTopics } from '../../thing-model/wire';
import type { PublishReceipt, Uplink } from '../transport';
import { TopicError, type CloudReply, type CustomPublishOptions, type BatchPost, type EventPostOptions, type PostHandle, type PostOptions, type PublishHandle, type StoredReceipt, type Upstream } from '../../handlers/api';
import { postHandle, publishHandle, rejectedPost } from './handles';
import { PendingReplies, type ParsedReply } from './pending';
import { checkTagKey, checkTags } from '../tags/validate';
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
  /** True when the uplink puts QoS 1 messages in the durable outbox before accepting them (the default stores). */
  durable?: boolean;
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
let compiledReplyCheck: ((v: unknown) => boolean) | undefined;

/** Compiled once per process and shared (immutable; see agent/router/envelope.ts for why not per instance). */
function replyCheck(): (v: unknown) => boolean {
  compiledReplyCheck ??= new Ajv().compile(REPLY_SCHEMA);
  return compiledReplyCheck;
}

export class AlinkUpstream implements Upstream {
  private readonly topics: DeviceTopics;
  private readonly channels: ChannelTopics;
  private readonly pending = new PendingReplies();
  /** The agent's upstream id source; the state channels draw from it too (ids unique per device and day). */
  readonly ids: MessageIdGenerator;
  private readonly replyTimeoutMs: number;
  private readonly checkReply: (v: unknown) => boolean;
  private readonly eventTopics = new Map<string, string>();

  constructor(private readonly opts: UpstreamOptions) {
    this.topics = deviceTopics(opts.identity);
    this.channels = channelTopics(opts.identity);
    this.ids = opts.ids ?? new MessageIdGenerator();
    this.replyTimeoutMs = opts.replyTimeoutMs ?? 10_000;
    this.checkReply = replyCheck();
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

  postProperties(values: Record<string, unknown>, opts?: PostOptions): PostHandle {
    const v = this.opts.model.validatePropertyPost(values);
    if (!v.ok) return rejectedPost(new ValidationError(v.errors, v.message));
    return this.postValidated(v.value as Record<string, unknown>, opts);
  }

  /** For values the router has already validated (a property set's new values). */
  postValidated(params: Record<string, unknown>, opts?: PostOptions): PostHandle {
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

  postEvent(eventId: string, value: Record<string, unknown>, opts?: EventPostOptions): PostHandle {
    const topic = this.eventTopics.get(eventId);
    if (topic === undefined) {
      return rejectedPost(
        new ValidationError([{ field: 'eventId', reason: 'unknown', expected: 'an event of the Thing Model', received: eventId, message: `${eventId}: unknown event` }], `${eventId}: unknown event`),
      );
    }
    const v = this.opts.model.validateEventOutput(eventId, value);
    if (!v.ok) return rejectedPost(new ValidationError(v.errors, v.message));
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

  postBatch(batch: BatchPost, opts?: PostOptions): PostHandle {
    const checked = checkBatch(this.opts.model, batch);
    if (checked instanceof ValidationError) return rejectedPost(checked);
    const id = this.ids.nextId();
    const payload = JSON.stringify({ id, version: '1.0', sys: { ack: 1 }, params: checked, method: AlinkMethods.PROPERTY_BATCH_POST });
    return this.send(this.topics.propertyBatchPost, id, payload, 'property', opts);
  }

  publish(topic: string, payload: string | Buffer, opts?: CustomPublishOptions): PublishHandle {
    let full: string;
    try {
      full = this.customTopic(topic);
    } catch (err) {
      return publishHandle(Promise.reject(err as Error));
    }
    const qos = opts?.qos ?? 0;
    return publishHandle(this.accepted(full, payload, qos, 'custom', opts?.properties));
  }

  publishRaw(payload: string | Buffer, opts?: { qos?: 0 | 1 }): PublishHandle {
    return publishHandle(this.accepted(this.channels.upRaw, payload, opts?.qos ?? 1, 'raw'));
  }

  updateTags(tags: Record<string, string>, opts?: PostOptions): Promise<CloudReply> {
    const problems = checkTags(tags);
    if (problems.length) return Promise.reject(new ValidationError(problems));
    const params = Object.entries(tags).map(([attrKey, attrValue]) => ({ attrKey, attrValue }));
    return this.request(this.channels.tagsUpdate, AlinkMethods.DEVICEINFO_UPDATE, params, 'tags', opts);
  }

  deleteTags(keys: readonly string[], opts?: PostOptions): Promise<CloudReply> {
    const problems = keys.length === 0 ? checkTags({}) : keys.flatMap((k, i) => checkTagKey(k, `keys[${i}]`) ?? []);
    if (problems.length) return Promise.reject(new ValidationError(problems));
    return this.request(this.channels.tagsDelete, AlinkMethods.DEVICEINFO_DELETE, keys.map((attrKey) => ({ attrKey })), 'tags', opts);
  }

  /** A reply of the agent's own channels (config push_reply), QoS 1 through the outbox. */
  publishReply(topic: string, payload: string, qos: 0 | 1 = 1): Promise<PublishReceipt> {
    return this.opts.uplink.publish(topic, payload, { qos, messageClass: 'reply' });
  }

  /** An upstream Alink request of the other channels (tags, config, logs) that waits for its `_reply`. */
  request(topic: string, method: string, params: unknown, messageClass: string, opts?: PostOptions): PostHandle {
    const id = this.ids.nextId();
    return this.send(topic, id, JSON.stringify({ id, version: '1.0', params, method }), messageClass, opts);
  }

  /** A `_reply` from the platform (property or event post, tags, config, logs). Never throws. */
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

  private send(topic: string, id: string, payload: string, messageClass: string, opts: PostOptions | undefined): PostHandle {
    const replied = this.pending.wait(id, topic, opts?.timeoutMs ?? this.replyTimeoutMs);
    const stored = this.accepted(topic, payload, opts?.qos ?? 1, messageClass);
    stored.then(
      // The reply is what callers wait for; a lost PUBACK shows up as a reply timeout. A message the outbox dropped
      // (expired, evicted, aged out, refused) will never be answered: its error settles the post at once.
      (r) => {
        this.pending.stored(id, r.durable);
        r.acked.catch((err: unknown) => {
          if ((err as { code?: unknown }).code === 'OUTBOX_DROPPED') this.pending.fail(id, err as Error);
        });
      },
      (err: unknown) => this.pending.fail(id, err as Error),
    );
    const reply = replied.then((r): CloudReply => {
      if (r.code !== AlinkCodes.SUCCESS) throw new CloudReplyError(r.code, r.message ?? `platform answered ${r.code}`, r.data);
      return { id: r.id, code: AlinkCodes.SUCCESS, data: r.data ?? {}, message: r.message };
    });
    return postHandle(reply, stored);
  }

  /** The uplink's acceptance as a {@link StoredReceipt}: durable when a QoS 1 message went to the outbox. */
  private accepted(topic: string, payload: string | Buffer, qos: 0 | 1, messageClass: string, properties?: CustomPublishOptions['properties']): Promise<StoredReceipt> {
    let published: Promise<PublishReceipt>;
    try {
      published = this.opts.uplink.publish(topic, payload, properties ? { qos, properties, messageClass } : { qos, messageClass });
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const durable = qos === 1 && this.opts.durable === true;
    return published.then((receipt) => ({ acked: receipt.acked, durable }));
  }

  private customTopic(topic: string): string {
    if (hasWildcard(topic)) throw new TopicError(`topic ${topic}: wildcards cannot be published to`);
    const r = resolveUserTopic(topic, this.topics.userPrefix);
    if ('problem' in r) throw new TopicError(r.problem === 'empty' ? 'topic: empty' : `topic ${topic}: not under ${this.topics.userPrefix}`);
    return r.topic;
  }
}

