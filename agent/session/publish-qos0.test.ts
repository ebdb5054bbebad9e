/**
 * The QoS 0 PUBLISH the session writes itself: byte for byte what MQTT.js's encoder (mqtt-packet) writes, one
 * write per packet, and `acked` as MQTT.js reports it (written, or the next `drain`). MQTT 5 properties and a
 * closing client go through MQTT.js.
 */
import { EventEmitter } from 'node:events';
import mqttPacket from 'mqtt-packet';
import type { MqttClient } from 'mqtt';
import { encodePublishQos0, publishQos0 } from './publish-qos0';

const TOPIC = '/sys/a1GwDemo01/gw-001/rrpc/response/1712345678901234567';

describe('encodePublishQos0', () => {
  const sizes = [0, 1, 90, 125, 126, 127, 128, 16_380, 16_383, 16_384, 70_000, 2_097_150, 2_097_151, 2_200_000];
  it.each([4, 5] as const)('writes what mqtt-packet writes, MQTT version %s, across the remaining-length boundaries', (v) => {
    for (const n of sizes) {
      for (const payload of ['x'.repeat(n), Buffer.alloc(n, 7), `${'y'.repeat(n)}é漢`]) {
        for (const topic of [TOPIC, '/t/ü/漢']) {
          const ours = encodePublishQos0(topic, payload, v);
          const theirs = mqttPacket.generate({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false, ...(v === 5 ? { properties: {} } : {}) }, { protocolVersion: v });
          expect(ours.equals(theirs)).toBe(true);
        }
      }
    }
  });

  it('is parsed back by mqtt-packet as the same message', () => {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const got: mqttPacket.IPublishPacket[] = [];
    parser.on('packet', (p) => got.push(p as mqttPacket.IPublishPacket));
    parser.parse(encodePublishQos0(TOPIC, '{"id":"1","code":200,"data":{}}', 4));
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ cmd: 'publish', topic: TOPIC, qos: 0, retain: false, dup: false });
    expect(String(got[0]?.payload)).toBe('{"id":"1","code":200,"data":{}}');
  });
});

/** A connected client whose socket records writes; `full` makes the socket's buffer report full. */
function fakeClient(opts: { full?: boolean; disconnecting?: boolean } = {}) {
  const stream = new EventEmitter() as EventEmitter & { write(b: Buffer): boolean; writes: Buffer[] };
  stream.writes = [];
  stream.write = (b: Buffer) => {
    stream.writes.push(b);
    return !opts.full;
  };
  const published: unknown[][] = [];
  const client = {
    stream,
    disconnecting: opts.disconnecting ?? false,
    publish: (...args: unknown[]) => {
      published.push(args);
      (args[3] as (err?: Error) => void)(opts.disconnecting ? new Error('client disconnecting') : undefined);
    },
  };
  return { client: client as unknown as MqttClient, stream, published };
}

describe('publishQos0', () => {
  it('writes the packet in one write and resolves acked at once', async () => {
    const { client, stream, published } = fakeClient();
    const r = await publishQos0(client, TOPIC, 'hello', undefined, 4);
    await expect(r.acked).resolves.toBeUndefined();
    expect(stream.writes).toHaveLength(1);
    expect(stream.writes[0]?.equals(encodePublishQos0(TOPIC, 'hello', 4))).toBe(true);
    expect(published).toEqual([]);
  });

  it('with the socket buffer full, acked waits for the drain', async () => {
    const { client, stream } = fakeClient({ full: true });
    const r = await publishQos0(client, TOPIC, Buffer.from('x'), undefined, 5);
    let settled = false;
    void r.acked.then(() => (settled = true));
    await new Promise((res) => setImmediate(res));
    expect(settled).toBe(false);
    stream.emit('drain');
    await r.acked;
    expect(settled).toBe(true);
  });

  it('MQTT 5 properties go through MQTT.js', async () => {
    const { client, stream, published } = fakeClient();
    const properties = { contentType: 'application/json' };
    const r = await publishQos0(client, TOPIC, 'p', properties, 5);
    await expect(r.acked).resolves.toBeUndefined();
    expect(stream.writes).toEqual([]);
    expect(published[0]?.slice(0, 3)).toEqual([TOPIC, 'p', { qos: 0, properties }]);
  });

  it('a client that is disconnecting gets the publish, and its refusal rejects acked', async () => {
    const { client, stream, published } = fakeClient({ disconnecting: true });
    const r = await publishQos0(client, TOPIC, 'p', undefined, 4);
    await expect(r.acked).rejects.toThrow(/client disconnecting/);
    expect(stream.writes).toEqual([]);
    expect(published).toHaveLength(1);
  });
});
