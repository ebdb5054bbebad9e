/**
 * Orders the session's CONNACK handling before the outbox's. Both listen to MQTT.js's `connect`: the session
 * subscribes there (a clean session has no subscriptions left), the outbox starts sending its backlog. Listeners
 * run in the order they were added, and the session attaches its durable uplink before adding its own, so the
 * outbox would send first: a backlog of property posts then reaches the broker before the SUBSCRIBE to their
 * `post_reply`, the platform's replies are dropped, and every such post times out although it was delivered.
 * Attaching one microtask later puts the outbox's listener after the session's, and the SUBSCRIBE on the wire
 * ahead of the backlog.
 *
 * It does not cover MQTT.js's own re-send of the in-flight window, which happens before `connect` is emitted;
 * that needs the session to subscribe earlier (see the agent's report on the session).
 */
import type { Logger } from 'pino';
import type { DurableUplink } from '../session/session';

export function attachAfterSession(durable: DurableUplink, logger: Logger): DurableUplink {
  return {
    publish: (topic, payload, opts) => durable.publish(topic, payload, opts),
    mqttOptions: () => durable.mqttOptions(),
    attach: (client) =>
      queueMicrotask(() => {
        try {
          durable.attach(client);
        } catch (err) {
          // Only when the agent failed in its constructor and closed its stores at once: nothing left to send.
          logger.warn({ err }, 'the outbox could not be attached to the connection');
        }
      }),
  };
}
