/**
 * The two moments of an upstream message (handlers/api/upstream.ts), through a whole agent with its default stores
 * on a real broker (mosquitto over MQTT 5, aedes over MQTT 3.1.1): `stored` (in the SQLite outbox, fsynced) and the
 * answer (the platform's `post_reply`, or the broker's PUBACK for custom topics). The agent reaches the broker
 * through a TCP proxy the test cuts: during the outage `stored` resolves and the answer waits; after the reconnect
 * the answer comes. A reply timeout during the outage says the message was stored, and the message still arrives.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { startTcpProxy, type TcpProxy } from '../agent/outbox/__fixtures__/tcp-proxy';
import { UpstreamTimeoutError, ValidationError, type Upstream } from '../handlers/api';
import { startAedes, startMosquitto, waitFor, type RunningBroker } from './helpers/brokers';
import { DEVICE } from './agent-support';
import { makeAgent, type TestAgent } from './agent-e2e-support';

const SYS = `/sys/${DEVICE.productKey}/${DEVICE.deviceName}`;
const USER = `/${DEVICE.productKey}/${DEVICE.deviceName}/user/`;

/** Settles to 'pending' if `p` has not settled within `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T | 'pending'> {
  return Promise.race([p, new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms))]);
}

describe.each([
  ['mosquitto', 5],
  ['aedes', 4],
] as const)('upstream moments through the agent (%s)', (kind, protocolVersion) => {
  let broker: RunningBroker;
  let proxy: TcpProxy;
  let cloud: MqttClient;
  let t: TestAgent;
  let up: Upstream;
  /** Payload ids (property and event posts) and custom payloads the cloud received. */
  const postIds: string[] = [];
  const customs: string[] = [];

  beforeAll(async () => {
    broker = kind === 'mosquitto' ? await startMosquitto() : await startAedes();
    proxy = await startTcpProxy(broker.port);
    cloud = await mqtt.connectAsync(broker.url, { protocolVersion, clientId: `cloud-moments-${kind}`, reconnectPeriod: 0 });
    cloud.on('message', (topic, payload) => {
      if (topic.startsWith(USER)) {
        customs.push(payload.toString());
        return;
      }
      const msg = JSON.parse(payload.toString()) as { id: string; method?: string };
      postIds.push(msg.id);
      void cloud.publishAsync(`${topic}_reply`, JSON.stringify({ id: msg.id, code: 200, data: {}, method: msg.method, version: '1.0' }), { qos: 0 });
    });
    await cloud.subscribeAsync({ [`${SYS}/thing/event/+/post`]: { qos: 1 }, [`${USER}moments`]: { qos: 1 } });
    t = await makeAgent(proxy.url, {
      broker: { url: proxy.url, protocolVersion, reconnect: { initialMs: 100, maxMs: 300, stableMs: 1000 }, connectTimeoutMs: 2000 },
      postAfterSet: { enabled: false },
    });
    await t.agent.start();
    up = t.agent.router.upstream;
  });

  afterAll(async () => {
    await t?.cleanup();
    await cloud?.endAsync(true);
    await proxy?.close();
    await broker?.stop();
  });

  const outage = async () => {
    proxy.cut();
    await waitFor(() => t.agent.state === 'reconnecting', 10_000, 'the agent to notice the outage');
  };
  const reconnect = async () => {
    proxy.restore();
    await waitFor(() => t.agent.state === 'connected', 15_000, 'the agent to reconnect');
  };

  it('connected: stored (durable) first, then the reply; awaiting the handle is awaiting the reply', async () => {
    const post = up.postProperties({ PM25: 11 });
    const stored = await post.stored;
    expect(stored.durable).toBe(true);
    const reply = await post.reply;
    expect(reply.code).toBe(200);
    await expect(post).resolves.toEqual(reply);
    expect(postIds).toContain(reply.id);
  });

  it('during a broker outage stored resolves and the reply comes after the reconnect', async () => {
    await outage();
    const before = postIds.length;
    const post = up.postEvent('HighTemperature', { Temperature: 41.5, Threshold: 40, SensorId: 'ch3' }, { timeoutMs: 60_000 });
    expect((await post.stored).durable).toBe(true);
    expect(await within(post.reply, 300)).toBe('pending');
    expect(postIds.length).toBe(before);
    await reconnect();
    const reply = await post.reply;
    expect(reply.code).toBe(200);
    expect(postIds.filter((id) => id === reply.id)).toHaveLength(1);
  });

  it('a reply timeout during an outage says the message was stored, and the message still arrives', async () => {
    await outage();
    const post = up.postProperties({ PM25: 12 }, { timeoutMs: 300 });
    expect((await post.stored).durable).toBe(true);
    const err = await post.reply.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamTimeoutError);
    const timeout = err as UpstreamTimeoutError;
    expect({ stored: timeout.stored, durable: timeout.durable }).toEqual({ stored: true, durable: true });
    expect(timeout.message).toContain('do not re-send');
    await reconnect();
    await waitFor(() => postIds.includes(timeout.requestId), 10_000, `post ${timeout.requestId} at the platform despite the timeout`);
  });

  it('custom-topic publish: stored during the outage, acked (PUBACK) after the reconnect; awaiting it is awaiting stored', async () => {
    await outage();
    const pub = up.publish('moments', 'during-outage', { qos: 1 });
    const receipt = await pub;
    expect(receipt.durable).toBe(true);
    expect(await pub.stored).toBe(receipt);
    expect(await within(pub.acked, 300)).toBe('pending');
    await reconnect();
    await pub.acked;
    await waitFor(() => customs.includes('during-outage'), 5000, 'the custom message at the cloud');
    // QoS 0 is handed to the connection, not stored durably.
    const q0 = up.publish('moments', 'qos0', { qos: 0 });
    expect((await q0.stored).durable).toBe(false);
    await q0.acked;
  });

  it('a post refused before publishing rejects both moments with the same error, and nothing is sent', async () => {
    const before = postIds.length;
    const post = up.postProperties({ PM25: 'many' });
    const [s, r] = await Promise.all([post.stored.catch((e: unknown) => e), post.reply.catch((e: unknown) => e)]);
    expect(s).toBeInstanceOf(ValidationError);
    expect(r).toBe(s);
    // Not awaiting a moment raises no unhandled rejection (jest would fail the test run).
    void up.postEvent('NoSuchEvent', {});
    await new Promise((res) => setTimeout(res, 100));
    expect(postIds.length).toBe(before);
  });

  it('an agent without stores reports stored, but not durable', async () => {
    const plain = await makeAgent(broker.url, { broker: { url: broker.url, protocolVersion, connectTimeoutMs: 2000 }, postAfterSet: { enabled: false } }, { stores: () => ({}), deviceName: 'gw-002' });
    try {
      await plain.agent.start();
      const pub = plain.agent.router.upstream.publish('moments', 'plain', { qos: 1 });
      expect((await pub.stored).durable).toBe(false);
      await pub.acked;
    } finally {
      await plain.cleanup();
    }
  });
});
