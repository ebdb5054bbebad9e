/**
 * The upstream API handed to plugins: what a device says to the cloud on its own initiative
 * (property posts, event posts, custom-topic publishes). Pure types; the implementation is `./upstream.ts`.
 */
import type { MessageProperties, PublishReceipt } from '../transport';

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
  /** Epoch ms when the event happened. */
  time?: number;
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
 * What plugins may send upstream. Every call validates against the Thing Model first and rejects with a
 * `ValidationError` (code 460, `errors` naming each field) before anything is published.
 */
export interface Upstream {
  /**
   * Posts property values on `thing/event/property/post` (`sys.ack: 1`) and resolves with the platform's
   * `post_reply`. Each value is either the bare value or `{ value, time }`.
   * Rejects with `ValidationError` (bad values), `CloudReplyError` (non-200 reply), `UpstreamTimeoutError`
   * (no reply in time; the pending entry is removed) or the uplink's own error (publish refused).
   */
  postProperties(values: Record<string, unknown>, opts?: PostOptions): Promise<CloudReply>;
  /**
   * Posts an event (`thing/event/{eventId}/post`) whose `value` holds the event's output members, and resolves
   * with the platform's `post_reply`. Rejects like `postProperties`.
   */
  postEvent(eventId: string, value: Record<string, unknown>, opts?: EventPostOptions): Promise<CloudReply>;
  /**
   * Publishes on a custom topic of this device: either the part after `/{productKey}/{deviceName}/user/`
   * (`"status"`) or the full topic. Resolves when the uplink accepted the message.
   */
  publish(topic: string, payload: string | Buffer, opts?: CustomPublishOptions): Promise<PublishReceipt>;
}
