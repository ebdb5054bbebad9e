/**
 * The outbox's hold (docs/protocol/gateway.md, "Held messages"), on a real broker (aedes through a TCP proxy) and a
 * real SQLite file: messages on held topics are kept, not sent, until released; messages in flight when the
 * connection dropped are taken out of the re-send while their topic is held, and go once released; nothing is lost
 * and nothing is sent while held.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Outbox } from '../agent/outbox';
import { startTcpProxy, type TcpProxy } from '../agent/outbox/__fixtures__/tcp-proxy';
import { startAedes, waitFor, type RunningBroker } from './helpers/brokers';

const HELD = '/a1Sub/m-01/user/data';
const FREE = '/a1Gw/gw-01/user/data';

describe('outbox hold (aedes)', () => {
  let broker: RunningBroker;
  let proxy: TcpProxy;
  let sub: MqttClient;
  let dir: string;
  const received: string[] = [];
  /** While set, aedes never answers a publish on HELD: the message stays in the agent's in-flight window. */
  let swallow = false;

  beforeAll(async () => {
    broker = await startAedes({
      setup: (a) => {
        a.authorizePublish = (client, packet, cb) => {
          if (swallow && client?.id === 'agent' && packet.topic === HELD) return;
          cb(null);
        };
      },
    });
    proxy = await startTcpProxy(broker.port);
    sub = await mqtt.connectAsync(broker.url, { clientId: 'sub', reconnectPeriod: 0 });
    sub.on('message', (t, p) => received.push(`${t} ${p.toString()}`));
    await sub.subscribeAsync(['/a1Sub/#', '/a1Gw/#'], { qos: 1 });
    dir = mkdtempSync(join(tmpdir(), 'outbox-hold-'));
  });

  afterAll(async () => {
    await sub?.endAsync();
    await proxy?.close();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps held messages in the outbox, sends the others, and sends the held ones once released', async () => {
    const outbox = Outbox.open({ file: join(dir, 'a.db') });
    let holding = true;
    outbox.setHold((t) => holding && t === HELD);
    const client = mqtt.connect(proxy.url, { ...outbox.mqttOptions(), clientId: 'agent-a', reconnectPeriod: 50 });
    outbox.attach(client);
    try {
      const held = await outbox.publish(HELD, 'h1', { qos: 1, messageClass: 'property' });
      const free = await outbox.publish(FREE, 'f1', { qos: 1, messageClass: 'property' });
      await free.acked;
      await new Promise((r) => setTimeout(r, 200));
      expect(received).toEqual([`${FREE} f1`]);
      expect(outbox.depth()).toBe(1);
      holding = false;
      outbox.release();
      await held.acked;
      await waitFor(() => received.includes(`${HELD} h1`), 5000, 'the held message');
      expect(outbox.depth()).toBe(0);
    } finally {
      await client.endAsync();
      outbox.close();
      received.length = 0;
    }
  });

  it('takes held topics out of the re-send of the in-flight window, and sends them once released', async () => {
    const outbox = Outbox.open({ file: join(dir, 'b.db') });
    let holding = false;
    outbox.setHold((t) => holding && t === HELD);
    const client = mqtt.connect(proxy.url, { ...outbox.mqttOptions(), clientId: 'agent', reconnectPeriod: 50 });
    outbox.attach(client);
    try {
      await waitFor(() => client.connected, 5000, 'the agent connected');
      swallow = true;
      const receipt = await outbox.publish(HELD, 'w1', { qos: 1, messageClass: 'property' });
      await waitFor(() => outbox.stats().inflight === 1, 5000, 'the message in flight');
      // The connection drops with it unacknowledged; meanwhile its topic becomes held (its sub-device went offline).
      holding = true;
      swallow = false;
      proxy.cut();
      await waitFor(() => !client.connected, 5000, 'the drop');
      proxy.restore();
      await waitFor(() => client.connected, 5000, 'the reconnect');
      await new Promise((r) => setTimeout(r, 300));
      expect(received).toEqual([]);
      expect(outbox.stats().inflight).toBe(0);
      expect(outbox.depth()).toBe(1);
      holding = false;
      outbox.release();
      await receipt.acked;
      await waitFor(() => received.length === 1, 5000, 'the released message');
      expect(received).toEqual([`${HELD} w1`]);
    } finally {
      swallow = false;
      await client.endAsync();
      outbox.close();
    }
  });
});
