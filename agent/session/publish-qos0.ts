/**
 * A QoS 0 PUBLISH without MQTT 5 properties, written to the connection's socket as one buffer. QoS 0 has no packet
 * id, no store and no acknowledgement, so MQTT.js has no state to keep for it; its own path (options merged, the
 * packet written in five corked pieces and uncorked on the next tick, which comes only after every microtask
 * queued behind the publish) was about a third of an RRPC answer's CPU between the handler's result and the socket
 * (docs/performance.md, "RRPC latency of the default agent"). Publishes with properties still go through MQTT.js.
 * While the session holds the socket's writes for the read being handled (socket.ts), this buffer waits with them.
 */
import type { MqttClient } from 'mqtt';
import type { MessageProperties, PublishReceipt } from '../transport';
import { SessionErrors } from './errors';

const noop = () => undefined;

/** The receipt of every QoS 0 message written at once; shared, so frozen. */
const WRITTEN: Promise<PublishReceipt> = Promise.resolve(Object.freeze({ acked: Promise.resolve() }));

/** The part of the connection's stream used here: a net/TLS socket or MQTT.js's WebSocket duplex. */
interface PacketStream {
  write(chunk: Buffer): boolean;
  once(event: 'drain', fn: () => void): unknown;
}

/**
 * The bytes of a QoS 0 PUBLISH (no DUP, no RETAIN): fixed header, remaining length, topic, for MQTT 5 an empty
 * property block, payload (MQTT 3.1.1 §3.3, MQTT 5.0 §3.3).
 */
export function encodePublishQos0(topic: string, payload: string | Buffer, protocolVersion: 4 | 5): Buffer {
  const topicBytes = Buffer.byteLength(topic);
  const payloadBytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  const remaining = 2 + topicBytes + (protocolVersion === 5 ? 1 : 0) + payloadBytes;
  const lengthBytes = remaining < 0x80 ? 1 : remaining < 0x4000 ? 2 : remaining < 0x200000 ? 3 : 4;
  const buf = Buffer.allocUnsafe(1 + lengthBytes + remaining);
  buf[0] = 0x30;
  let o = 1;
  let x = remaining;
  do {
    const digit = x % 0x80;
    x = Math.floor(x / 0x80);
    buf[o++] = x > 0 ? digit | 0x80 : digit;
  } while (x > 0);
  buf.writeUInt16BE(topicBytes, o);
  o += 2;
  o += buf.write(topic, o, 'utf8');
  if (protocolVersion === 5) buf[o++] = 0;
  if (typeof payload === 'string') buf.write(payload, o, 'utf8');
  else payload.copy(buf, o);
  return buf;
}

/**
 * Publishes at QoS 0 on a connected client. `acked` resolves once the packet was handed to the socket, or, when
 * the socket's buffer is full, at its next `drain`: what MQTT.js's callback reports for QoS 0.
 */
export function publishQos0(client: MqttClient, topic: string, payload: string | Buffer, props: MessageProperties | undefined, protocolVersion: 4 | 5): Promise<PublishReceipt> {
  const stream = client.stream as unknown as PacketStream | undefined;
  if (props || !stream || client.disconnecting) return publishViaMqttJs(client, topic, payload, 0, props);
  if (stream.write(encodePublishQos0(topic, payload, protocolVersion))) return WRITTEN;
  const acked = new Promise<void>((resolve) => stream.once('drain', resolve));
  return Promise.resolve({ acked });
}

/**
 * MQTT.js's own path: QoS 1 without the durable outbox, and the QoS 0 messages not written above (MQTT 5
 * properties: topic aliases and the rest are its business; a closing client). `acked` settles with MQTT.js's callback.
 */
export function publishViaMqttJs(client: MqttClient, topic: string, payload: string | Buffer, qos: 0 | 1, props: MessageProperties | undefined): Promise<PublishReceipt> {
  let settle!: (err?: Error) => void;
  const acked = new Promise<void>((resolve, reject) => {
    settle = (err) => (err ? reject(SessionErrors.publishFailed(topic, err)) : resolve());
  });
  // A caller that ignores `acked` must not turn a failed publish into an unhandled rejection.
  acked.catch(noop);
  client.publish(topic, payload, props ? { qos, properties: props } : { qos }, (err) => settle(err));
  return Promise.resolve({ acked });
}
