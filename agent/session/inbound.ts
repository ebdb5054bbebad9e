/** An inbound PUBLISH as the rest of the agent sees it: topic, payload, QoS and the MQTT 5 properties it uses. */
import type { IPublishPacket } from 'mqtt';
import type { InboundMessage, MessageProperties } from '../transport';

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
