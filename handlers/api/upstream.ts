/**
 * The plugin API, upstream part: what a plugin sends (posts, custom-topic publishes), the two moments of every
 * message (stored, answered) and the errors a plugin may catch from it. Re-exported by `handlers/api`.
 */

/** MQTT 5 properties the agent reads on inbound messages and may set on outbound ones. */
export interface MessageProperties {
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: Record<string, string | string[]>;
  contentType?: string;
}

/** What a publish returns once the agent has accepted the message. */
export interface PublishReceipt {
  /** Resolves when the broker acknowledged the message (PUBACK); for QoS 0, when it was written. */
  acked: Promise<void>;
}

/**
 * The first moment of an upstream message: the agent has taken it over. From here on it is the agent's job to
 * deliver it, and sending it again would send a duplicate.
 */
export interface StoredReceipt extends PublishReceipt {
  /**
   * True when the message is in the agent's SQLite outbox with its WAL fsynced: it survives kill -9 and a power
   * cut and is re-sent across reconnects and restarts until the broker acknowledges it (QoS 1 with the default
   * stores). False when it was only handed to the MQTT connection in memory (QoS 0, or an agent without stores):
   * a crash before the PUBACK loses it.
   */
  durable: boolean;
}

/**
 * What `postProperties` and `postEvent` return: awaiting it waits for the platform's answer (as before), and the
 * two moments are also there by name.
 *
 * ```ts
 * const post = ctx.upstream.postEvent('Alarm', { Level: 3 });
 * await post.stored; // in the outbox: it will be delivered, do not post it again
 * const reply = await post.reply; // the platform answered 200 (same as `await post`)
 * ```
 *
 * Neither promise raises an unhandled rejection when it is not awaited: await the one you need.
 */
export interface PostHandle extends Promise<CloudReply> {
  /**
   * Resolves once the agent holds the message (see {@link StoredReceipt}; `durable` says how). Rejects when the
   * message was never taken: `ValidationError`, or the uplink's refusal (payload too large, rate limited, outbox
   * full...). A post whose `stored` rejected was not sent and may be retried.
   */
  readonly stored: Promise<StoredReceipt>;
  /**
   * Resolves with the platform's `_reply` (code 200). Rejects with `CloudReplyError` (non-200),
   * `UpstreamTimeoutError` (no reply in time: that does NOT mean "not sent"; see its `stored`), or what
   * `stored` rejected with.
   */
  readonly reply: Promise<CloudReply>;
}

/**
 * What `publish` returns (custom topics have no platform reply; the second moment is the broker's PUBACK).
 * Awaiting it is awaiting `stored` (as before: it resolves with the receipt).
 *
 * ```ts
 * const pub = ctx.upstream.publish('status', 'up', { qos: 1 });
 * const { durable } = await pub.stored; // taken over by the agent
 * await pub.acked; // the broker acknowledged it
 * ```
 */
export interface PublishHandle extends Promise<StoredReceipt> {
  /** Resolves once the agent holds the message; rejects like {@link PostHandle.stored}. */
  readonly stored: Promise<StoredReceipt>;
  /**
   * Resolves on the broker's PUBACK (QoS 1) or once written to the socket (QoS 0). Rejects when the outbox gives
   * the message up (expired, evicted, refused by the broker) or with what `stored` rejected with.
   */
  readonly acked: Promise<void>;
}

/** A property value with the time it was sampled (docs/protocol/payloads.md, "Property post"). */
export interface TimedValue<V = unknown> {
  value: V;
  /** Epoch ms when the value was sampled; at most 24 h in the future of the upload. */
  time?: number;
}

/** Options of a property or event post. */
export interface PostOptions {
  /** Defaults to 1: a post is durable through the outbox when the agent has one. */
  qos?: 0 | 1;
  /** How long to wait for the platform's `_reply`; defaults to the agent's `upstream.replyTimeoutMs`. */
  timeoutMs?: number;
}

/** Options of an event post. */
export interface EventPostOptions extends PostOptions {
  /** Epoch ms when the event happened; defaults to the agent's NTP-corrected now. */
  time?: number;
}

/** A batch post: per identifier, a list of timed values (properties) or timed output members (events). */
export interface BatchPost {
  properties?: Record<string, { value: unknown; time: number }[]>;
  events?: Record<string, { value: Record<string, unknown>; time: number }[]>;
}

/** The platform's successful answer to a post. A non-200 answer rejects with `CloudReplyError` instead. */
export interface CloudReply {
  /** The request id (decimal string) this answers. */
  id: string;
  code: 200;
  data: unknown;
  message?: string;
}

/** Options of a custom-topic publish. */
export interface CustomPublishOptions {
  /** Defaults to 0. QoS 2 is not supported by the platform. */
  qos?: 0 | 1;
  /** MQTT 5 properties (response topic, correlation data, user properties, content type). */
  properties?: MessageProperties;
}

/**
 * What plugins may send upstream. Every call validates against the Thing Model first and fails with a
 * `ValidationError` (code 460, `errors` naming each field) before anything is published.
 *
 * Every call has two moments: **stored** (the agent took the message over; with the default stores a QoS 1
 * message is then in the SQLite outbox and will be delivered, across reconnects, restarts and kill -9) and
 * **answered** (the platform's `_reply` for posts, the broker's PUBACK for custom topics). A late answer does
 * not mean the message was lost: a plugin that re-sends on `UpstreamTimeoutError` when `stored` had resolved
 * sends a duplicate.
 */
export interface Upstream {
  /**
   * Posts property values on `thing/event/property/post` (`sys.ack: 1`). Each value is either the bare value or
   * `{ value, time }`. Awaiting the handle waits for the platform's `post_reply`; `stored` and `reply` name the
   * two moments (see {@link PostHandle}).
   */
  postProperties(values: Record<string, unknown>, opts?: PostOptions): PostHandle;
  /**
   * Posts an event (`thing/event/{eventId}/post`) whose `value` holds the event's output members; the handle is
   * like `postProperties`'.
   */
  postEvent(eventId: string, value: Record<string, unknown>, opts?: EventPostOptions): PostHandle;
  /**
   * Posts many timestamps of this device's properties and events in one message
   * (`thing/event/property/batch/post`, docs/protocol/sdk-compat.md §4): every entry is checked against the
   * Thing Model first (a bad one rejects the whole batch with `ValidationError`), and the platform answers all or
   * nothing. Returns a `PostHandle` like `postProperties`.
   */
  postBatch(batch: BatchPost, opts?: PostOptions): PostHandle;
  /**
   * The agent's time, epoch ms: the system clock corrected by NTP once connected (docs/protocol/ntp.md). Use it
   * for `time` fields; a gateway that booted with a wrong clock still stamps correct times.
   */
  now(): number;
  /**
   * Publishes on a custom topic of this device: either the part after `/{productKey}/{deviceName}/user/`
   * (`"status"`) or the full topic. Awaiting the handle waits until the agent holds the message (`stored`);
   * `acked` is the broker's PUBACK (see {@link PublishHandle}). A bad topic rejects with `TopicError`.
   */
  publish(topic: string, payload: string | Buffer, opts?: CustomPublishOptions): PublishHandle;
  /**
   * Custom-format (raw) products: publishes bytes on `thing/model/up_raw` (docs/protocol/raw-data.md); the
   * platform's parse script turns them into Alink JSON. QoS defaults to 1 (durable through the outbox). The
   * platform's answer, bytes on `up_raw_reply`, goes to the raw claim's `reply` hook.
   */
  publishRaw(payload: string | Buffer, opts?: { qos?: 0 | 1 }): PublishHandle;
  /**
   * Device tags (docs/protocol/tags.md): adds or changes tags with `thing.deviceinfo.update` and resolves with
   * the platform's reply. Keys: letters, digits, `_` `-` `.`, 2..30 characters, not starting with a digit;
   * values: at most 128 characters. A bad tag rejects with `ValidationError` (460) before anything is sent.
   */
  updateTags(tags: Record<string, string>, opts?: PostOptions): Promise<CloudReply>;
  /** Removes device tags (`thing.deviceinfo.delete`); rejects like `updateTags`. */
  deleteTags(keys: readonly string[], opts?: PostOptions): Promise<CloudReply>;
}

/**
 * No `_reply` arrived within the timeout. The pending entry has been removed; a late reply is ignored.
 * Code `UPSTREAM_TIMEOUT`.
 *
 * This is not "not sent": when `stored` is true the message was in the agent's hands before the timeout (in the
 * SQLite outbox when `durable`), and the agent goes on delivering it: across a broker outage the platform gets
 * it after the reconnect. Re-posting it sends a duplicate.
 */
export class UpstreamTimeoutError extends Error {
  override readonly name = 'UpstreamTimeoutError';
  readonly code = 'UPSTREAM_TIMEOUT';
  /** By `code` as well as by class, so that errors from another copy of this module pass `instanceof`. */
  static override [Symbol.hasInstance](x: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(this, x) || hasCode(x, 'UPSTREAM_TIMEOUT');
  }
  constructor(
    readonly requestId: string,
    readonly topic: string,
    readonly timeoutMs: number,
    /** Whether the agent held the message when the timeout hit (its `stored` had resolved). */
    readonly stored = false,
    /** Whether it was held durably (in the outbox, fsynced). */
    readonly durable = false,
  ) {
    super(
      `no reply to ${topic} (id ${requestId}) within ${timeoutMs} ms; ` +
        (stored ? `the message was ${durable ? 'stored in the outbox' : 'handed to the connection'} and is still being delivered: do not re-send it` : 'the message had not been stored yet (the post\'s `stored` promise says whether it was taken)'),
    );
  }
}

/**
 * A custom-topic publish named a topic outside this device's `/{productKey}/{deviceName}/user/` space.
 * Code `UPSTREAM_TOPIC_INVALID`.
 */
export class TopicError extends Error {
  override readonly name = 'TopicError';
  readonly code = 'UPSTREAM_TOPIC_INVALID';
  /** By `code` as well as by class, so that errors from another copy of this module pass `instanceof`. */
  static override [Symbol.hasInstance](x: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(this, x) || hasCode(x, 'UPSTREAM_TOPIC_INVALID');
  }
}

function hasCode(x: unknown, code: string): boolean {
  return x instanceof Error && (x as { code?: unknown }).code === code;
}
