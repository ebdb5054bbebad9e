/** SUBSCRIBE and UNSUBSCRIBE on one MQTT.js client, with the broker's refusals turned into SessionErrors. */
import type { MqttClient } from 'mqtt';
import { SessionErrors } from './errors';
import { subackRefusal, type TopicQos } from './subscriptions';

/** Resolves after the SUBACK; rejects with AGENT_SUBSCRIBE_REFUSED naming the first filter the broker refused. */
export function sendSubscribe(client: MqttClient, subs: readonly TopicQos[]): Promise<void> {
  const map: Record<string, { qos: 0 | 1 }> = {};
  for (const [topic, qos] of subs) map[topic] = { qos };
  return new Promise<void>((resolve, reject) => {
    client.subscribe(map, {}, (err, _granted, packet) => {
      const refused = subackRefusal(subs, packet && 'granted' in packet ? (packet.granted as number[]) : undefined);
      if (refused) return reject(SessionErrors.subscribeRefused(refused.topic, refused.reasonCode));
      if (err) return reject(SessionErrors.subscribeFailed(subs.map(([t]) => t), err));
      resolve();
    });
  });
}

/** Resolves after the UNSUBACK (or at once when the connection is gone: its subscriptions went with it). */
export function sendUnsubscribe(client: MqttClient, topics: readonly string[]): Promise<void> {
  if (topics.length === 0 || !client.connected) return Promise.resolve();
  return new Promise<void>((resolve) => {
    // A failed UNSUBSCRIBE leaves a filter whose messages the router refuses; nothing to retry.
    client.unsubscribe([...topics], {}, () => resolve());
  });
}
