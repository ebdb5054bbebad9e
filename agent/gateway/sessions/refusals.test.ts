import { OutboxDroppedError } from '../../outbox/errors';
import type { PublishReceipt, Uplink } from '../../transport';
import { watchRefusals } from './refusals';

/** An uplink whose every receipt settles as `acked` says. */
function uplink(acked: () => Promise<void>): Uplink {
  return { publish: async () => ({ acked: acked() }) as unknown as PublishReceipt };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('watchRefusals', () => {
  it('tells of a sub-device publish the broker refused as not authorized, and leaves the receipt as it was', async () => {
    const seen: unknown[] = [];
    const refused = new OutboxDroppedError('refused', 7, 'broker answered PUBACK reason code 135', 0x87);
    const up = watchRefusals(
      uplink(() => Promise.reject(refused)),
      (device, topic) => seen.push({ device, topic }),
    );
    const receipt = await up.publish('/sys/a1Sub/meter-1/thing/event/property/post', '{}', { qos: 1, messageClass: 'property' });
    await expect(receipt.acked).rejects.toBe(refused);
    await flush();
    expect(seen).toEqual([{ device: { productKey: 'a1Sub', deviceName: 'meter-1' }, topic: '/sys/a1Sub/meter-1/thing/event/property/post' }]);
  });

  it('ignores other reason codes, other drops, successes and topics that are no device of ours', async () => {
    const seen: unknown[] = [];
    const tell = (device: unknown) => seen.push(device);
    const cases: [string, () => Promise<void>][] = [
      ['/sys/a1Sub/meter-1/thing/event/property/post', () => Promise.reject(new OutboxDroppedError('refused', 1, 'quota', 0x97))],
      ['/sys/a1Sub/meter-1/thing/event/property/post', () => Promise.reject(new OutboxDroppedError('expired', 2, 'old'))],
      ['/sys/a1Sub/meter-1/thing/event/property/post', () => Promise.resolve()],
      ['/broadcast/a1Sub/x', () => Promise.reject(new OutboxDroppedError('refused', 3, 'acl', 0x87))],
    ];
    for (const [topic, acked] of cases) {
      const receipt = await watchRefusals(uplink(acked), tell).publish(topic, '{}', { qos: 1, messageClass: 'property' });
      await receipt.acked.catch(() => undefined);
    }
    await flush();
    expect(seen).toEqual([]);
  });
});
