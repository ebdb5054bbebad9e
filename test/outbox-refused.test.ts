/**
 * A refusal the hold explains is not final (docs/protocol/gateway.md, "Held messages"), on a real MQTT 5 broker
 * (mosquitto with an ACL file, reloaded with SIGHUP) and a real SQLite file: a publish refused with PUBACK 0x87
 * while the hook turns its topic held stays in the outbox and goes once released; a topic refused for good is
 * dropped after REFUSALS_MAX attempts; without a hook a refusal is final as before.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Outbox } from '../agent/outbox';
import { OutboxDroppedError } from '../agent/outbox/errors';
import { REFUSALS_MAX } from '../agent/outbox/dispatcher';
import { startMosquitto, waitFor } from './helpers/brokers';

const HELD = '/a1Sub/m-01/user/data';
const OTHER = '/a1Gw/gw-01/user/data';

describe('outbox: refusals the hold explains (mosquitto, MQTT 5)', () => {
  let broker: Awaited<ReturnType<typeof startMosquitto>>;
  let sub: MqttClient;
  let dir: string;
  let acl: string;
  const received: string[] = [];

  /** Lets `agent` publish everything, or everything but HELD; mosquitto rereads the file on SIGHUP. */
  async function allowHeld(allow: boolean): Promise<void> {
    const lines = ['user agent', allow ? 'topic readwrite #' : `topic readwrite ${OTHER}`, 'user sub', 'topic readwrite #'];
    writeFileSync(acl, lines.join('\n') + '\n');
    broker.process().kill('SIGHUP');
    // mosquitto does not acknowledge a reload: give it a moment to reread the file.
    await new Promise((r) => setTimeout(r, 200));
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'outbox-refused-'));
    // mosquitto started as root reads its files as the user it drops to.
    chmodSync(dir, 0o755);
    acl = join(dir, 'acl');
    writeFileSync(acl, 'user agent\ntopic readwrite #\nuser sub\ntopic readwrite #\n', { mode: 0o644 });
    broker = await startMosquitto({ extraConfig: [`acl_file ${acl}`] });
    sub = await mqtt.connectAsync(broker.url, { clientId: 'sub', username: 'sub', reconnectPeriod: 0 });
    sub.on('message', (t, p) => received.push(`${t} ${p.toString()}`));
    await sub.subscribeAsync(['/a1Sub/#', '/a1Gw/#'], { qos: 1 });
  });

  afterAll(async () => {
    await sub?.endAsync();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(() => {
    received.length = 0;
  });

  function connect(outbox: Outbox, clientId: string): MqttClient {
    const client = mqtt.connect(broker.url, { ...outbox.mqttOptions(), clientId, username: 'agent', protocolVersion: 5, reconnectPeriod: 50 });
    outbox.attach(client);
    return client;
  }

  it('keeps a message refused while the hook holds its topic, and sends it once released', async () => {
    const outbox = Outbox.open({ file: join(dir, 'a.db') });
    let holding = false;
    const heard: Array<[string, number]> = [];
    outbox.setHold(
      (t) => holding && t === HELD,
      (t, code) => {
        heard.push([t, code]);
        if (t === HELD) holding = true;
      },
    );
    const client = connect(outbox, 'agent-a');
    try {
      await waitFor(() => client.connected, 5000, 'the agent connected');
      await allowHeld(false);
      const receipt = await outbox.publish(HELD, 'r1', { qos: 1, messageClass: 'property' });
      await waitFor(() => heard.length === 1, 5000, 'the refusal');
      expect(heard).toEqual([[HELD, 0x87]]);
      // Kept, not dropped: still in the outbox, nothing in flight, nothing delivered.
      await new Promise((r) => setTimeout(r, 200));
      expect(outbox.depth()).toBe(1);
      expect(outbox.stats().inflight).toBe(0);
      expect(received).toEqual([]);
      const other = await outbox.publish(OTHER, 'o1', { qos: 1, messageClass: 'property' });
      await other.acked;
      await allowHeld(true);
      holding = false;
      outbox.release();
      await receipt.acked;
      await waitFor(() => received.includes(`${HELD} r1`), 5000, 'the kept message');
      expect(outbox.depth()).toBe(0);
      expect(received.filter((r) => r === `${HELD} r1`)).toHaveLength(1);
    } finally {
      await client.endAsync();
      outbox.close();
      await allowHeld(true);
    }
  });

  it(`drops a message refused for good after ${REFUSALS_MAX} attempts`, async () => {
    const outbox = Outbox.open({ file: join(dir, 'b.db') });
    let holding = false;
    let refusals = 0;
    outbox.setHold(
      (t) => holding && t === HELD,
      () => {
        refusals++;
        holding = true;
        // The device is "logged in again" at once, and refused again: the bound ends it.
        setTimeout(() => {
          holding = false;
          outbox.release();
        }, 20);
      },
    );
    const client = connect(outbox, 'agent-b');
    try {
      await waitFor(() => client.connected, 5000, 'the agent connected');
      await allowHeld(false);
      const receipt = await outbox.publish(HELD, 'r2', { qos: 1, messageClass: 'property' });
      const err = await receipt.acked.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(OutboxDroppedError);
      expect((err as OutboxDroppedError).reason).toBe('refused');
      expect((err as OutboxDroppedError).reasonCode).toBe(0x87);
      expect(refusals).toBe(REFUSALS_MAX + 1);
      expect(outbox.depth()).toBe(0);
    } finally {
      await client.endAsync();
      outbox.close();
      await allowHeld(true);
    }
  });

  it('queues again, held until released, what was acknowledged for a device a moment ago', async () => {
    const outbox = Outbox.open({ file: join(dir, 'd.db') });
    let holding = false;
    outbox.setHold((t) => holding && t === HELD);
    outbox.keepAcked((t) => (t === HELD ? 'a1Sub/m-01' : undefined));
    const client = connect(outbox, 'agent-d');
    try {
      await waitFor(() => client.connected, 5000, 'the agent connected');
      const a = await outbox.publish(HELD, 'k1', { qos: 1, messageClass: 'property' });
      const b = await outbox.publish(OTHER, 'k2', { qos: 1, messageClass: 'property' });
      await Promise.all([a.acked, b.acked]);
      await waitFor(() => received.length === 2, 5000, 'both delivered');
      // The platform says it dropped the device's messages (520): the device is held, its last messages go again.
      holding = true;
      expect(outbox.resendAcked('a1Sub/m-01')).toBe(1);
      expect(outbox.resendAcked('a1Sub/m-01')).toBe(0);
      await waitFor(() => outbox.depth() === 1, 5000, 'the message queued again');
      await new Promise((r) => setTimeout(r, 200));
      expect(received).toHaveLength(2);
      holding = false;
      outbox.release();
      await waitFor(() => received.length === 3, 5000, 'the message sent again');
      expect(received[2]).toBe(`${HELD} k1`);
      expect(outbox.depth()).toBe(0);
    } finally {
      await client.endAsync();
      outbox.close();
    }
  });

  it('treats a refusal as final when no hook is set', async () => {
    const outbox = Outbox.open({ file: join(dir, 'c.db') });
    const client = connect(outbox, 'agent-c');
    try {
      await waitFor(() => client.connected, 5000, 'the agent connected');
      await allowHeld(false);
      const receipt = await outbox.publish(HELD, 'r3', { qos: 1, messageClass: 'property' });
      await expect(receipt.acked).rejects.toBeInstanceOf(OutboxDroppedError);
      expect(outbox.depth()).toBe(0);
    } finally {
      await client.endAsync();
      outbox.close();
      await allowHeld(true);
    }
  });
});
