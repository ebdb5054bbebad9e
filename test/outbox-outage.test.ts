/**
 * Network outages between the agent and a real broker (mosquitto over MQTT 5, aedes over MQTT 3.1.1). The publisher
 * reaches the broker through a TCP proxy the test cuts and restores; the subscriber connects directly and stays up,
 * so what it receives is exactly what the broker accepted from the agent.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Outbox } from '../agent/outbox';
import { startTcpProxy, type TcpProxy } from '../agent/outbox/__fixtures__/tcp-proxy';
import { startAedes, startMosquitto, waitFor, type RunningBroker } from './helpers/brokers';

type Version = 4 | 5;

interface Rig {
  broker: RunningBroker;
  proxy: TcpProxy;
  sub: MqttClient;
  received: string[];
  dir: string;
  topic: string;
}

async function connected(c: MqttClient): Promise<void> {
  if (c.connected) return;
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('client did not connect within 5000 ms')), 5000);
    c.once('connect', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

async function rig(broker: RunningBroker, version: Version): Promise<Rig> {
  const topic = `/a1TestPK01/dev1/user/outage/${version}`;
  const proxy = await startTcpProxy(broker.port);
  const received: string[] = [];
  const sub = mqtt.connect(broker.url, { protocolVersion: version, clientId: `sub-${version}-${process.pid}`, reconnectPeriod: 0 });
  sub.on('message', (_t, payload) => received.push(payload.toString()));
  await connected(sub);
  await sub.subscribeAsync(topic, { qos: 1 });
  return { broker, proxy, sub, received, dir: mkdtempSync(join(tmpdir(), 'outbox-outage-')), topic };
}

async function teardown(r: Rig): Promise<void> {
  await r.sub.endAsync();
  await r.proxy.close();
  await r.broker.stop();
  rmSync(r.dir, { recursive: true, force: true });
}

function agentClient(outbox: Outbox, url: string, version: Version, id: string): MqttClient {
  return mqtt.connect(url, { ...outbox.mqttOptions(), protocolVersion: version, clientId: id, reconnectPeriod: 50, connectTimeout: 2000 });
}

/** Sends 10,000 messages while the agent is cut off, then restores the link. */
async function outageWhileOffline(r: Rig, version: Version): Promise<void> {
  const N = 10_000;
  const outbox = Outbox.open({ file: join(r.dir, 'agent.db') });
  const client = agentClient(outbox, r.proxy.url, version, `agent-offline-${version}`);
  outbox.attach(client);
  await connected(client);
  r.proxy.cut();
  await waitFor(() => !client.connected, 5000, 'the agent to notice the outage');

  const receipts = await Promise.all(Array.from({ length: N }, (_, i) => outbox.publish(r.topic, String(i), { qos: 1, messageClass: 'property' })));
  expect(outbox.depth()).toBe(N);
  expect(outbox.stats().inflight).toBe(0);
  // Group commit: 10,000 concurrent publishes took a handful of transactions, not 10,000.
  expect(outbox.stats().commits).toBeLessThan(20);
  await new Promise((res) => setTimeout(res, 200));
  expect(r.received).toHaveLength(0);

  r.proxy.restore();
  await Promise.all(receipts.map((x) => x.acked));
  await waitFor(() => r.received.length >= N, 30_000, `${N} messages at the subscriber (have ${r.received.length})`);
  // Give duplicates, if any, time to show up.
  await new Promise((res) => setTimeout(res, 300));
  expect(r.received).toHaveLength(N);
  expect(r.received).toEqual(Array.from({ length: N }, (_, i) => String(i)));
  await waitFor(() => outbox.depth() === 0, 5000, 'the outbox to empty');
  expect(outbox.stats()).toMatchObject({ accepted: N, acked: N, depth: 0 });

  await client.endAsync();
  outbox.close();
}

/** Cuts the link while messages are in flight: nothing is lost, order of first arrival holds, duplicates are counted. */
async function outageMidStream(r: Rig, version: Version): Promise<{ duplicates: number; replayed: number }> {
  const N = 5_000;
  r.received.length = 0;
  const outbox = Outbox.open({ file: join(r.dir, 'mid.db'), maxInflight: 200 });
  const client = agentClient(outbox, r.proxy.url, version, `agent-mid-${version}`);
  outbox.attach(client);
  await connected(client);
  const receipts = await Promise.all(Array.from({ length: N }, (_, i) => outbox.publish(r.topic, `m${i}`, { qos: 1 })));
  await waitFor(() => r.received.length >= 1000 || outbox.depth() === 0, 10_000, 'some messages to arrive');
  r.proxy.cut();
  await waitFor(() => !client.connected, 5000, 'the agent to notice the outage');
  const atCut = r.received.length;
  await new Promise((res) => setTimeout(res, 150));
  r.proxy.restore();
  await Promise.all(receipts.map((x) => x.acked));
  await waitFor(() => new Set(r.received).size >= N, 30_000, `${N} distinct messages (have ${new Set(r.received).size})`);
  await new Promise((res) => setTimeout(res, 300));

  const firsts: number[] = [];
  const seen = new Set<string>();
  for (const m of r.received) {
    if (seen.has(m)) continue;
    seen.add(m);
    firsts.push(Number(m.slice(1)));
  }
  expect(seen.size).toBe(N);
  expect(firsts).toEqual(Array.from({ length: N }, (_, i) => i));
  const duplicates = r.received.length - N;
  // Only messages in flight at the cut can come twice: at most the window.
  expect(duplicates).toBeLessThanOrEqual(200);
  expect(atCut).toBeLessThan(N);
  const replayed = outbox.stats().replayedPackets;
  await client.endAsync();
  outbox.close();
  return { duplicates, replayed };
}

describe('outbox across network outages', () => {
  test('MQTT 5 (mosquitto): 10,000 published during an outage arrive once each, in order', async () => {
    const r = await rig(await startMosquitto(), 5);
    try {
      await outageWhileOffline(r, 5);
      const mid = await outageMidStream(r, 5);
      console.log(`mosquitto mid-stream cut: ${mid.duplicates} duplicates, ${mid.replayed} packets re-sent by MQTT.js`);
    } finally {
      await teardown(r);
    }
  }, 90_000);

  test('MQTT 3.1.1 (aedes): 10,000 published during an outage arrive once each, in order', async () => {
    const r = await rig(await startAedes(), 4);
    try {
      await outageWhileOffline(r, 4);
      const mid = await outageMidStream(r, 4);
      console.log(`aedes mid-stream cut: ${mid.duplicates} duplicates, ${mid.replayed} packets re-sent by MQTT.js`);
    } finally {
      await teardown(r);
    }
  }, 90_000);
});
