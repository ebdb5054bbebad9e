/** An inbound PUBLISH as the rest of the agent sees it: topic, payload, QoS and the MQTT 5 properties it uses. */
import type { IPublishPacket } from 'mqtt';
import type { Logger } from 'pino';
import type { InboundMessage, MessageProperties } from '../transport';
import type { InboundHandler } from './types';

export function toInboundMessage(topic: string, payload: Buffer, packet: Pick<IPublishPacket, 'qos' | 'properties'>): InboundMessage {
  const msg: InboundMessage = { topic, payload, qos: packet.qos };
  const p = packet.properties;
  if (p) {
    const props: MessageProperties = {};
    if (p.responseTopic !== undefined) props.responseTopic = p.responseTopic;
    if (p.correlationData !== undefined) props.correlationData = p.correlationData;
    if (p.userProperties !== undefined) props.userProperties = p.userProperties;
    if (p.contentType !== undefined) props.contentType = p.contentType;
    msg.properties = props;
  }
  return msg;
}

/** Hands one PUBLISH to the handler; a handler that throws or rejects is logged, never allowed to reach MQTT.js. */
export function deliverTo(handler: InboundHandler | undefined, log: Logger, topic: string, payload: Buffer, packet: IPublishPacket): void {
  if (!handler) {
    log.warn({ topic }, 'message received before a handler was set; dropped');
    return;
  }
  const msg = toInboundMessage(topic, payload, packet);
  try {
    const r = handler(msg);
    if (r) r.catch((err: unknown) => log.error({ err, topic }, 'inbound handler rejected'));
  } catch (err) {
    log.error({ err, topic }, 'inbound handler threw');
  }
}
