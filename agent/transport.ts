/**
 * The seams between the agent's layers. Data flows one way: the session (transport) hands each
 * `InboundMessage` to the router; the router, handlers and upstream API publish through an `Uplink`.
 * The session implements `Uplink`; with the durable outbox plugged in, QoS 1 publishes are persisted first.
 */
import type { MessageProperties, PublishReceipt } from '../handlers/api';

// Declared by the plugin API (plugins see them); the agent's layers use them through this module too.
export type { MessageProperties, PublishReceipt };

/** One PUBLISH received from the broker. */
export interface InboundMessage {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  /** Present only under MQTT 5. */
  properties?: MessageProperties;
}

/** Message classes, used by the outbox's bound and time-to-live policies. */
export type MessageClass = 'reply' | 'property' | 'event' | 'custom' | 'rrpc' | string;

export interface PublishOptions {
  qos: 0 | 1;
  properties?: MessageProperties;
  /** Defaults to 'custom'. */
  messageClass?: MessageClass;
}

/** Upstream publishing. */
export interface Uplink {
  /**
   * Resolves once the message is accepted: persisted in the outbox (QoS 1) or handed to the connection
   * (QoS 0). Rejects with a typed error when a limit refuses it (payload size, topic length, rate, outbox full).
   */
  publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<PublishReceipt>;
}

/** A stored reply to a downstream request, for answering a redelivered request the same way. */
export interface StoredReply {
  topic: string;
  payload: string;
}

/**
 * De-duplication of downstream requests by Alink message id (the inbox). `key` combines the request kind and id,
 * e.g. `set:4000001` or `service:Reboot:2001`.
 */
export interface ReplyCache {
  get(key: string): StoredReply | undefined;
  put(key: string, reply: StoredReply): void;
}
