/**
 * A broker that enforces sub-device sessions itself (MQTT 5; the simulator's managed mosquitto, docs/protocol/gateway-platform.md
 * "Traffic and the broker's rules") refuses the gateway's publish for a sub-device whose session is gone with PUBACK
 * 0x87 (not authorized) instead of the platform's `/ext/error` 520, so the agent would never hear that the session
 * was lost. Seen on the receipt of what a sub-device's router publishes, the refusal means the same as 520.
 */
import type { DeviceIdentity } from '../../../thing-model/wire';
import { OutboxDroppedError } from '../../outbox/errors';
import type { Uplink } from '../../transport';
import { topicOwner } from '../traffic';

/** MQTT 5 reason code 0x87, Not authorized: what an ACL answers for a topic the connection may not use. */
export const NOT_AUTHORIZED = 0x87;

/** `inner`, telling `onRefused` of every QoS 1 publish on a sub-device's topic the broker refused as not authorized. */
export function watchRefusals(inner: Uplink, onRefused: (device: DeviceIdentity, topic: string) => void): Uplink {
  return {
    async publish(topic, payload, opts) {
      const receipt = await inner.publish(topic, payload, opts);
      // A branch of its own: the caller's handling of `acked` stays as without the watch.
      receipt.acked.catch((err: unknown) => {
        if (!(err instanceof OutboxDroppedError) || err.reason !== 'refused' || err.reasonCode !== NOT_AUTHORIZED) return;
        const owner = topicOwner(topic);
        if (owner) onRefused(owner.device, topic);
      });
      return receipt;
    },
  };
}
