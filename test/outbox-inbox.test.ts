/**
 * The inbox (ReplyCache in SQLite): direct behaviour on real files, and a real-broker redelivery where a raw MQTT.js
 * device answers a property set, "crashes" before its PUBACK, and answers the redelivered set the same way from the
 * inbox without applying it again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { Inbox } from '../agent/inbox';
import { Outbox } from '../agent/outbox';
import { openAgentDb } from '../agent/storage';
import { startMosquitto, waitFor } from './helpers/brokers';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'outbox-inbox-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('Inbox', () => {
  test('remembers replies across a reopen', () => {
    const file = join(dir, 'agent.db');
    const a = Inbox.open({ file });
    expect(a.get('set:1')).toBeUndefined();
    a.put('set:1', { topic: '/sys/pk/dev/thing/service/property/set_reply', payload: '{"id":"1","code":200,"data":{}}' });
    expect(a.get('set:1')).toEqual({ topic: '/sys/pk/dev/thing/service/property/set_reply', payload: '{"id":"1","code":200,"data":{}}' });
    a.close();
    const b = Inbox.open({ file });
    expect(b.get('set:1')?.payload).toBe('{"id":"1","code":200,"data":{}}');
    expect(b.get('service:Reboot:1')).toBeUndefined();
    expect(b.stats()).toMatchObject({ size: 1, hits: 1, misses: 1 });
    b.close();
  });

  test('forgets replies older than the window and prunes them', () => {
    let now = 1_000_000;
    const inbox = Inbox.open({ file: join(dir, 'agent.db'), windowMs: 1000, now: () => now });
    inbox.put('set:1', { topic: 't', payload: 'one' });
    now += 999;
    expect(inbox.get('set:1')?.payload).toBe('one');
    now += 1;
    expect(inbox.get('set:1')).toBeUndefined();
    inbox.put('set:2', { topic: 't', payload: 'two' });
    expect(inbox.size()).toBe(1);
    expect(inbox.stats().expired).toBe(1);
    inbox.close();
  });

  test('holds at most maxEntries, dropping the oldest', () => {
    let now = 0;
    const inbox = Inbox.open({ file: join(dir, 'agent.db'), maxEntries: 3, now: () => ++now });
    for (let i = 1; i <= 5; i++) inbox.put(`set:${i}`, { topic: 't', payload: String(i) });
    inbox.put('set:5', { topic: 't', payload: '5 again' });
    expect(inbox.size()).toBe(3);
    expect([1, 2, 3, 4, 5].map((i) => inbox.get(`set:${i}`)?.payload)).toEqual([undefined, undefined, '3', '4', '5 again']);
    expect(inbox.stats().evicted).toBe(2);
    inbox.close();
  });

  test('shares one db handle with the outbox and leaves it open', async () => {
    const store = openAgentDb({ file: join(dir, 'agent.db') });
    const { db } = store;
    const outbox = Outbox.open({ db: store });
    const inbox = Inbox.open({ db: store });
    inbox.put('set:9', { topic: 't', payload: 'p' });
    await outbox.publish('t/x', 'x', { qos: 1 });
    inbox.close();
    outbox.close();
    expect(db.prepare('SELECT count(*) AS n FROM inbox').get()).toEqual({ n: 1 });
    expect(db.prepare('SELECT count(*) AS n FROM outbox').get()).toEqual({ n: 1 });
    store.close();
  });

  test('buffers the records of a loop turn and commits them before the outbox commits a reply', async () => {
    const file = join(dir, 'agent.db');
    const store = openAgentDb({ file });
    const outbox = Outbox.open({ db: store });
    const inbox = Inbox.open({ db: store });
    // Triggers write the order in which rows reach the tables, whichever transaction carries them.
    store.db.exec(`
      CREATE TABLE log (n INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT);
      CREATE TRIGGER log_inbox AFTER INSERT ON inbox BEGIN INSERT INTO log (what) VALUES ('inbox ' || NEW.key); END;
      CREATE TRIGGER log_outbox AFTER INSERT ON outbox BEGIN INSERT INTO log (what) VALUES ('outbox ' || NEW.topic); END;
    `);
    const reader = new Database(file, { readonly: true });
    try {
      // The outbox's commit is scheduled first, so only the hook can put the inbox's records ahead of it.
      const durable = outbox.publish('reply/3', 'r3', { qos: 1 });
      for (let i = 1; i <= 3; i++) inbox.put(`set:${i}`, { topic: 'reply', payload: `r${i}` });
      expect(inbox.get('set:2')?.payload).toBe('r2');
      expect(reader.prepare('SELECT count(*) AS n FROM inbox').get()).toEqual({ n: 0 });
      await durable;
      expect(reader.prepare('SELECT what FROM log ORDER BY n').pluck().all()).toEqual(['inbox set:1', 'inbox set:2', 'inbox set:3', 'outbox reply/3']);
      // Without an outbox commit, the end of the loop turn commits them.
      inbox.put('set:4', { topic: 'reply', payload: 'r4' });
      await new Promise((r) => setImmediate(r));
      expect(reader.prepare('SELECT payload FROM inbox WHERE key = ?').pluck().get('set:4')).toBe('r4');
      expect(inbox.stats()).toMatchObject({ stored: 4, size: 4, hits: 1 });
    } finally {
      reader.close();
      inbox.close();
      outbox.close();
      store.close();
    }
  });

  test('a storage failure is counted and logged, not thrown', () => {
    const store = openAgentDb({ file: join(dir, 'agent.db') });
    const { db } = store;
    const inbox = Inbox.open({ db: store });
    db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
    expect(() => inbox.put('set:big', { topic: 't', payload: 'x'.repeat(20_000) })).not.toThrow();
    expect(inbox.stats().errors).toBe(1);
    expect(inbox.get('set:big')).toBeUndefined();
    inbox.close();
    store.close();
  });

  test('invalid options name the key', () => {
    expect(() => Inbox.open({ file: join(dir, 'agent.db'), windowMs: 0 })).toThrow('invalid option windowMs: expected a positive integer, received 0');
    expect(() => Inbox.open({})).toThrow(/invalid option file/);
  });
});

describe('Inbox with a real broker', () => {
  test('a redelivered property set is answered twice with the same reply and applied once', async () => {
    const broker = await startMosquitto();
    const pk = 'a1TestPK01';
    const setTopic = `/sys/${pk}/dev1/thing/service/property/set`;
    const replyTopic = `${setTopic}_reply`;
    const file = join(dir, 'agent.db');
    const applied: unknown[] = [];
    const replies: string[] = [];
    const dupFlags: boolean[] = [];
    const clients: MqttClient[] = [];

    /** A raw device: de-duplicates through the inbox; with `ackHeld` it keeps the PUBACK back (a crash before ack). */
    const device = async (inbox: Inbox, ackHeld: boolean) => {
      const c = mqtt.connect(broker.url, { clientId: 'dev1', clean: false, reconnectPeriod: 0, manualConnect: true });
      clients.push(c);
      c.handleMessage = (packet: IPublishPacket, done: (err?: Error) => void) => {
        dupFlags.push(packet.dup);
        const req = JSON.parse(packet.payload.toString()) as { id: string; params: Record<string, unknown> };
        const key = `set:${req.id}`;
        let reply = inbox.get(key);
        if (!reply) {
          applied.push(req.params);
          reply = { topic: replyTopic, payload: JSON.stringify({ id: req.id, code: 200, data: {} }) };
          inbox.put(key, reply);
        }
        c.publish(reply.topic, reply.payload, { qos: 0 });
        if (!ackHeld) done();
      };
      c.connect();
      await new Promise<void>((resolve) => c.once('connect', () => resolve()));
      return c;
    };

    try {
      const cloud = mqtt.connect(broker.url, { clientId: 'cloud', reconnectPeriod: 0 });
      clients.push(cloud);
      cloud.on('message', (_t, p) => replies.push(p.toString()));
      await new Promise<void>((resolve) => cloud.once('connect', () => resolve()));
      await cloud.subscribeAsync(replyTopic, { qos: 1 });

      const inbox1 = Inbox.open({ file });
      const dev = await device(inbox1, true);
      await dev.subscribeAsync(setTopic, { qos: 1 });
      await cloud.publishAsync(setTopic, JSON.stringify({ id: '4000001', version: '1.0', params: { LightSwitch: 1 }, method: 'thing.service.property.set' }), { qos: 1 });
      await waitFor(() => replies.length === 1, 5000, 'the first reply');
      // Crash before the PUBACK: the broker keeps the set for the persistent session.
      await dev.endAsync(true);
      inbox1.close();

      const inbox2 = Inbox.open({ file });
      const dev2 = await device(inbox2, false);
      await waitFor(() => replies.length === 2, 5000, 'the reply to the redelivered set');
      await cloud.publishAsync(setTopic, JSON.stringify({ id: '4000002', version: '1.0', params: { LightSwitch: 0 }, method: 'thing.service.property.set' }), { qos: 1 });
      await waitFor(() => replies.length === 3, 5000, 'the reply to a new set');

      expect(replies[0]).toBe('{"id":"4000001","code":200,"data":{}}');
      expect(replies[1]).toBe(replies[0]);
      expect(replies[2]).toBe('{"id":"4000002","code":200,"data":{}}');
      expect(applied).toEqual([{ LightSwitch: 1 }, { LightSwitch: 0 }]);
      // The second delivery was the broker's redelivery of the unacknowledged set.
      expect(dupFlags).toEqual([false, true, false]);
      expect(inbox2.stats()).toMatchObject({ hits: 1, misses: 1 });
      await dev2.endAsync();
      inbox2.close();
    } finally {
      await Promise.all(clients.map((c) => c.endAsync(true)));
      await broker.stop();
    }
  });
});
