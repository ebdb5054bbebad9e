/**
 * The outbox's storage rules on real SQLite files (one temp dir per test) and a real broker: durability and order
 * across restarts, bounds and both overflow policies, time to live, corrupt files, a full disk, QoS 0, errors.
 */
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync, readFileSync } from 'node:fs';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import {
  OUTBOX_ERROR_CODES,
  Outbox,
  OutboxConfigError,
  OutboxDiskFullError,
  OutboxDroppedError,
  OutboxFullError,
  OutboxInvalidMessageError,
  OutboxNotAttachedError,
  type DropInfo,
} from '../agent/outbox';
import { INBOX_ERROR_CODES, Inbox } from '../agent/inbox';
import { STORAGE_ERROR_CODES, openAgentDb } from '../agent/storage';
import { startMosquitto, waitFor, type RunningBroker } from './helpers/brokers';

let broker: RunningBroker;
let dir: string;
const open: Array<{ close(): void }> = [];
const clients: MqttClient[] = [];

beforeAll(async () => {
  broker = await startMosquitto();
});
afterAll(async () => {
  await broker.stop();
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'outbox-store-'));
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
  for (const o of open.splice(0).reverse()) o.close();
  rmSync(dir, { recursive: true, force: true });
});

function track<T extends { close(): void }>(o: T): T {
  open.push(o);
  return o;
}

async function connect(url: string, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const c = mqtt.connect(url, { reconnectPeriod: 50, ...opts });
  clients.push(c);
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no CONNACK from ${url} within 5000 ms`)), 5000);
    c.once('connect', () => {
      clearTimeout(t);
      resolve();
    });
  });
  return c;
}

async function subscriber(topic: string, version: 4 | 5 = 4): Promise<IPublishPacket[]> {
  const got: IPublishPacket[] = [];
  const c = await connect(broker.url, { protocolVersion: version, clientId: `sub-${Math.random().toString(16).slice(2)}` });
  c.on('message', (_t, _p, packet) => got.push(packet));
  await c.subscribeAsync(topic, { qos: 1 });
  return got;
}

async function attachAgent(outbox: Outbox, version: 4 | 5 = 4): Promise<MqttClient> {
  const c = mqtt.connect(broker.url, { ...outbox.mqttOptions(), protocolVersion: version, reconnectPeriod: 50 });
  clients.push(c);
  outbox.attach(c);
  await new Promise<void>((resolve) => c.once('connect', () => resolve()));
  return c;
}

const text = (ps: IPublishPacket[]) => ps.map((p) => p.payload.toString());

describe('durability and order', () => {
  test('messages persist across close/open and go out oldest first, before newer ones', async () => {
    const file = join(dir, 'agent.db');
    const first = Outbox.open({ file });
    const rs = await Promise.all(Array.from({ length: 300 }, (_, i) => first.publish('t/order', `old-${i}`, { qos: 1 })));
    expect(first.depth()).toBe(300);
    first.close();
    await expect(rs[0]?.acked).rejects.toMatchObject({ code: 'OUTBOX_CLOSED' });

    const got = await subscriber('t/order');
    const second = track(Outbox.open({ file }));
    expect(second.depth()).toBe(300);
    // New messages published before the connection exists must queue behind the old ones.
    const fresh = Promise.all(Array.from({ length: 300 }, (_, i) => second.publish('t/order', `new-${i}`, { qos: 1 })));
    await attachAgent(second);
    await Promise.all((await fresh).map((r) => r.acked));
    await waitFor(() => got.length >= 600, 10_000, '600 messages');
    expect(text(got)).toEqual([...Array.from({ length: 300 }, (_, i) => `old-${i}`), ...Array.from({ length: 300 }, (_, i) => `new-${i}`)]);
    await waitFor(() => second.depth() === 0, 5000, 'empty outbox');
  });

  test('when the client ends mid-stream, what was in flight goes out again through the next client, in order', async () => {
    const got = await subscriber('t/replace');
    const o = track(Outbox.open({ file: join(dir, 'agent.db') }));
    const a = await attachAgent(o);
    const receipts = await Promise.all(Array.from({ length: 3000 }, (_, i) => o.publish('t/replace', `r${i}`, { qos: 1 })));
    await waitFor(() => got.length >= 300, 5000, 'some messages through the first client');
    await a.endAsync(true);
    expect(o.stats().inflight).toBe(0);
    await attachAgent(o);
    await Promise.all(receipts.map((r) => r.acked));
    await waitFor(() => new Set(text(got)).size >= 3000, 10_000, '3000 distinct messages');
    const firsts = [...new Set(text(got))];
    expect(firsts).toEqual(Array.from({ length: 3000 }, (_, i) => `r${i}`));
    await waitFor(() => o.depth() === 0, 5000, 'empty outbox');
  });

  test('MQTT 5 properties survive a restart', async () => {
    const file = join(dir, 'agent.db');
    const a = Outbox.open({ file });
    await a.publish('t/props', 'p', {
      qos: 1,
      properties: { responseTopic: 't/resp', correlationData: Buffer.from([0, 1, 2, 255]), userProperties: { trace: 'abc', k: ['1', '2'] }, contentType: 'application/json' },
    });
    a.close();
    const got = await subscriber('t/props', 5);
    const b = track(Outbox.open({ file }));
    await attachAgent(b, 5);
    await waitFor(() => got.length === 1, 5000, 'the message');
    const props = got[0]?.properties;
    expect(props?.responseTopic).toBe('t/resp');
    expect(props?.correlationData).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(props?.userProperties).toEqual({ trace: 'abc', k: ['1', '2'] });
    expect(props?.contentType).toBe('application/json');
  });

  test('two outboxes in one process keep their own files and counters', async () => {
    const got = await subscriber('t/two/#');
    const a = track(Outbox.open({ file: join(dir, 'a.db') }));
    const b = track(Outbox.open({ file: join(dir, 'b.db') }));
    await attachAgent(a);
    await attachAgent(b);
    const ra = await Promise.all(Array.from({ length: 50 }, (_, i) => a.publish('t/two/a', `a${i}`, { qos: 1 })));
    const rb = await Promise.all(Array.from({ length: 70 }, (_, i) => b.publish('t/two/b', `b${i}`, { qos: 1 })));
    await Promise.all([...ra, ...rb].map((r) => r.acked));
    await waitFor(() => got.length >= 120, 5000, '120 messages');
    expect(a.stats()).toMatchObject({ accepted: 50, acked: 50 });
    expect(b.stats()).toMatchObject({ accepted: 70, acked: 70 });
    expect(text(got).filter((m) => m.startsWith('a'))).toEqual(Array.from({ length: 50 }, (_, i) => `a${i}`));
  });

  test('QoS 0 passes straight through and is not stored', async () => {
    const o = track(Outbox.open({ file: join(dir, 'agent.db') }));
    await expect(o.publish('t/q0', 'x', { qos: 0 })).rejects.toBeInstanceOf(OutboxNotAttachedError);
    const got = await subscriber('t/q0');
    await attachAgent(o);
    const r = await o.publish('t/q0', 'zero', { qos: 0 });
    await r.acked;
    expect(o.depth()).toBe(0);
    expect(o.stats().accepted).toBe(0);
    await waitFor(() => got.length === 1, 5000, 'the QoS 0 message');
    expect(got[0]?.qos).toBe(0);
  });

  test('an MQTT 5 PUBACK refusal drops the message instead of resending it forever', async () => {
    const acl = join(dir, 'acl');
    writeFileSync(acl, 'topic readwrite ok/#\n');
    // mosquitto started as root reads its files after dropping to its own user.
    chmodSync(dir, 0o755);
    const strict = await startMosquitto({ extraConfig: [`acl_file ${acl}`] });
    try {
      const drops: DropInfo[] = [];
      const o = track(Outbox.open({ file: join(dir, 'agent.db'), onDrop: (d) => drops.push(d) }));
      const c = mqtt.connect(strict.url, { ...o.mqttOptions(), protocolVersion: 5, reconnectPeriod: 50 });
      clients.push(c);
      o.attach(c);
      const denied = await o.publish('denied/x', 'no', { qos: 1, messageClass: 'event' });
      const allowed = await o.publish('ok/x', 'yes', { qos: 1 });
      await allowed.acked;
      const err = await denied.acked.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OutboxDroppedError);
      expect(err).toMatchObject({ code: 'OUTBOX_DROPPED', reason: 'refused' });
      expect(drops).toEqual([expect.objectContaining({ reason: 'refused', reasonCode: 0x87, topic: 'denied/x', messageClass: 'event' })]);
      await waitFor(() => o.depth() === 0, 5000, 'both rows gone');
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
      await strict.stop();
    }
  });
});

describe('durability', () => {
  function spyOnWalSync(events: string[]) {
    const real = fs.fdatasync;
    return jest.spyOn(fs, 'fdatasync').mockImplementation(((fd: number, cb: (err: NodeJS.ErrnoException | null) => void) =>
      real(fd, (err) => {
        events.push('fsync');
        cb(err);
      })) as typeof fs.fdatasync);
  }

  test('full: a publish resolves only after an fsync of the WAL, one fsync shared by concurrent publishes', async () => {
    const events: string[] = [];
    const spy = spyOnWalSync(events);
    try {
      const o = track(Outbox.open({ file: join(dir, 'agent.db') }));
      await Promise.all(Array.from({ length: 200 }, (_, i) => o.publish('t/d', `m${i}`, { qos: 1 }).then(() => events.push('resolved'))));
      expect(events[0]).toBe('fsync');
      expect(events.filter((e) => e === 'resolved')).toHaveLength(200);
      expect(spy.mock.calls.length).toBeGreaterThanOrEqual(1);
      expect(spy.mock.calls.length).toBeLessThanOrEqual(o.stats().commits);
    } finally {
      spy.mockRestore();
    }
  });

  test('full: the inbox records and the outbox batch committed in one loop turn share one fsync', async () => {
    const events: string[] = [];
    const store = openAgentDb({ file: join(dir, 'agent.db') });
    const o = Outbox.open({ db: store });
    const inbox = Inbox.open({ db: store });
    const spy = spyOnWalSync(events);
    try {
      // As the router answers a request: the record first, then the reply through the outbox.
      inbox.put('set:1', { topic: 'reply/1', payload: 'r1' });
      await o.publish('reply/1', 'r1', { qos: 1 });
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
      inbox.close();
      o.close();
      store.close();
    }
  });

  test('normal: no fsync per commit (survives a process crash, not a power cut)', async () => {
    const events: string[] = [];
    const spy = spyOnWalSync(events);
    try {
      const o = track(Outbox.open({ file: join(dir, 'agent.db'), synchronous: 'normal' }));
      await Promise.all(Array.from({ length: 50 }, (_, i) => o.publish('t/d', `m${i}`, { qos: 1 })));
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });
});

describe('bounds', () => {
  test('reject policy: maxRows refuses with OutboxFullError naming the limit', async () => {
    const o = track(Outbox.open({ file: join(dir, 'agent.db'), maxRows: 5 }));
    await Promise.all(Array.from({ length: 5 }, (_, i) => o.publish('t/b', `m${i}`, { qos: 1 })));
    const err = await o.publish('t/b', 'm5', { qos: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutboxFullError);
    expect(err).toMatchObject({ code: 'OUTBOX_FULL', limit: 'maxRows', max: 5, needed: 6 });
    expect((err as Error).message).toBe('outbox full: maxRows is 5, accepting this message needs 6 (overflow policy: reject)');
    expect(o.stats()).toMatchObject({ depth: 5, rejected: { full: 1, diskFull: 0, storage: 0 } });
  });

  test('reject policy: maxBytes counts topic, payload and properties; an oversized message is refused at once', async () => {
    const o = track(Outbox.open({ file: join(dir, 'agent.db'), maxBytes: 100 }));
    await o.publish('t/b', Buffer.alloc(60), { qos: 1 }); // 3 + 60 = 63 bytes
    const err = await o.publish('t/b', Buffer.alloc(40), { qos: 1 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'OUTBOX_FULL', limit: 'maxBytes', max: 100, needed: 106 });
    const huge = await o.publish('t/b', Buffer.alloc(200), { qos: 1 }).catch((e: unknown) => e);
    expect(huge).toMatchObject({ code: 'OUTBOX_FULL', limit: 'maxBytes', needed: 203 });
    expect(o.depth()).toBe(1);
  });

  test('dropOldestOf: the oldest unsent message of a droppable class makes room; others are kept', async () => {
    const drops: DropInfo[] = [];
    const o = track(Outbox.open({ file: join(dir, 'agent.db'), maxRows: 4, overflow: { dropOldestOf: ['property'] }, onDrop: (d) => drops.push(d) }));
    const r0 = await o.publish('t/e', 'event-0', { qos: 1, messageClass: 'event' });
    const r1 = await o.publish('t/p', 'prop-1', { qos: 1, messageClass: 'property' });
    await o.publish('t/p', 'prop-2', { qos: 1, messageClass: 'property' });
    await o.publish('t/e', 'event-3', { qos: 1, messageClass: 'event' });
    await o.publish('t/e', 'event-4', { qos: 1, messageClass: 'event' });
    await expect(r1.acked).rejects.toMatchObject({ code: 'OUTBOX_DROPPED', reason: 'evicted' });
    await o.publish('t/e', 'event-5', { qos: 1, messageClass: 'event' });
    expect(drops.map((d) => [d.reason, d.messageClass, d.topic])).toEqual([
      ['evicted', 'property', 't/p'],
      ['evicted', 'property', 't/p'],
    ]);
    // No property left to drop: the next one is refused, and the events are all still there.
    const err = await o.publish('t/e', 'event-6', { qos: 1, messageClass: 'event' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'OUTBOX_FULL', limit: 'maxRows' });
    expect((err as Error).message).toContain('overflow policy: dropOldestOf property');
    expect(o.stats()).toMatchObject({ depth: 4, dropped: { evicted: 2, expired: 0, refused: 0 } });

    const got = await subscriber('t/#');
    await attachAgent(o);
    await r0.acked;
    await waitFor(() => got.length === 4, 5000, '4 messages');
    expect(text(got)).toEqual(['event-0', 'event-3', 'event-4', 'event-5']);
  });

  test('under sustained overflow every drop is counted, logged through onDrop, and the bound holds', async () => {
    let dropped = 0;
    const o = track(Outbox.open({ file: join(dir, 'agent.db'), maxRows: 100, overflow: { dropOldestOf: ['property', 'event'] }, onDrop: () => dropped++ }));
    await Promise.all(Array.from({ length: 1000 }, (_, i) => o.publish('t/p', `p${i}`, { qos: 1, messageClass: i % 2 ? 'property' : 'event' })));
    expect(o.depth()).toBe(100);
    expect(dropped).toBe(900);
    expect(o.stats().dropped.evicted).toBe(900);
    const got = await subscriber('t/p');
    await attachAgent(o);
    await waitFor(() => got.length === 100, 5000, '100 messages');
    expect(text(got)).toEqual(Array.from({ length: 100 }, (_, i) => `p${900 + i}`));
  });

  test.each(['full', 'normal'] as const)('synchronous %s: messages evicted in the batch that accepted them are never sent', async (synchronous) => {
    const got = await subscriber('t/evict');
    const drops: DropInfo[] = [];
    const o = track(Outbox.open({ file: join(dir, 'agent.db'), synchronous, maxRows: 10, overflow: { dropOldestOf: ['property'] }, onDrop: (d) => drops.push(d) }));
    await attachAgent(o);
    const receipts = await Promise.all(Array.from({ length: 100 }, (_, i) => o.publish('t/evict', `e${i}`, { qos: 1, messageClass: 'property' })));
    const settled = await Promise.allSettled(receipts.map((r) => r.acked));
    expect(settled.filter((x) => x.status === 'fulfilled')).toHaveLength(10);
    await waitFor(() => got.length >= 10 && o.depth() === 0, 5000, '10 messages');
    await new Promise((r) => setTimeout(r, 100));
    expect(text(got)).toEqual(Array.from({ length: 10 }, (_, i) => `e${90 + i}`));
    expect(drops).toHaveLength(90);
  });
});

describe('time to live', () => {
  test('an expired message is dropped at send time, not sent; other classes are unaffected', async () => {
    let now = 1_000_000;
    const drops: DropInfo[] = [];
    const o = track(Outbox.open({ file: join(dir, 'agent.db'), ttlMs: { property: 1000 }, now: () => now, onDrop: (d) => drops.push(d) }));
    const stale = await o.publish('t/ttl', 'stale-property', { qos: 1, messageClass: 'property' });
    await o.publish('t/ttl', 'event', { qos: 1, messageClass: 'event' });
    now += 1500;
    await o.publish('t/ttl', 'fresh-property', { qos: 1, messageClass: 'property' });
    const got = await subscriber('t/ttl');
    await attachAgent(o);
    await expect(stale.acked).rejects.toMatchObject({ code: 'OUTBOX_DROPPED', reason: 'expired' });
    await waitFor(() => got.length === 2 && o.depth() === 0, 5000, 'two messages');
    expect(text(got)).toEqual(['event', 'fresh-property']);
    expect(drops).toEqual([expect.objectContaining({ reason: 'expired', messageClass: 'property', ageMs: 1500 })]);
  });

  test('expired messages are swept while offline, at open, and before the bound refuses', async () => {
    let now = 5_000_000;
    const file = join(dir, 'agent.db');
    const drops: DropInfo[] = [];
    const o = Outbox.open({ file, ttlMs: { property: 100 }, maxRows: 3, sweepIntervalMs: 20, now: () => now, onDrop: (d) => drops.push(d) });
    await o.publish('t/s', 'a', { qos: 1, messageClass: 'property' });
    now += 200;
    await waitFor(() => o.depth() === 0, 2000, 'the sweep timer');
    await o.publish('t/s', 'b', { qos: 1, messageClass: 'property' });
    await o.publish('t/s', 'c', { qos: 1, messageClass: 'property' });
    await o.publish('t/s', 'd', { qos: 1, messageClass: 'event' });
    o.close();

    now += 200;
    const reopened = track(Outbox.open({ file, ttlMs: { property: 100 }, maxRows: 3, sweepIntervalMs: 0, now: () => now, onDrop: (d) => drops.push(d) }));
    expect(reopened.depth()).toBe(1);
    await reopened.publish('t/s', 'e', { qos: 1, messageClass: 'property' });
    await reopened.publish('t/s', 'f', { qos: 1, messageClass: 'property' });
    now += 200;
    // Full at 3 rows, but e and f have expired: the commit sweeps them instead of refusing.
    await reopened.publish('t/s', 'g', { qos: 1, messageClass: 'event' });
    expect(reopened.depth()).toBe(2);
    expect(drops.map((d) => d.reason)).toEqual(['expired', 'expired', 'expired', 'expired', 'expired']);
  });
});

describe('damaged files and a full disk', () => {
  test('a garbage file is moved aside with a timestamp and a fresh outbox starts', async () => {
    const file = join(dir, 'agent.db');
    writeFileSync(file, Buffer.from('this is not an SQLite database, just bytes '.repeat(200)));
    const o = track(Outbox.open({ file }));
    const recovered = o.stats().recovered;
    expect(recovered?.movedTo).toMatch(/agent\.db\.corrupt-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(recovered?.reason).toContain('SQLITE_NOTADB');
    expect(readFileSync(recovered?.movedTo as string, 'utf8')).toContain('not an SQLite database');
    const got = await subscriber('t/fresh');
    await attachAgent(o);
    await (await o.publish('t/fresh', 'works', { qos: 1 })).acked;
    await waitFor(() => got.length === 1, 5000, 'the message');
  });

  test('a truncated file is moved aside and a fresh one started', async () => {
    const file = join(dir, 'agent.db');
    const a = Outbox.open({ file });
    await Promise.all(Array.from({ length: 2000 }, (_, i) => a.publish('t/trunc', Buffer.alloc(400, i % 256), { qos: 1 })));
    a.close();
    truncateSync(file, Math.floor(statSync(file).size / 2));
    const b = track(Outbox.open({ file }));
    expect(b.stats().recovered?.reason).toMatch(/SQLITE_CORRUPT|quick_check/);
    expect(b.depth()).toBe(0);
    expect(readdirSync(dir).filter((f) => f.startsWith('agent.db.corrupt-'))).toHaveLength(1);
    await b.publish('t/trunc', 'after', { qos: 1 });
    expect(b.depth()).toBe(1);
  });

  test('SQLITE_FULL gives the caller OutboxDiskFullError and the outbox keeps working once space frees', async () => {
    const store = track(openAgentDb({ file: join(dir, 'agent.db') }));
    const { db } = store;
    const o = track(Outbox.open({ db: store }));
    const pages = db.pragma('page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${pages + 6}`);
    const receipts = [];
    let full: unknown;
    for (let i = 0; i < 100 && !full; i++) {
      try {
        receipts.push(await o.publish('t/full', Buffer.alloc(2000, 1), { qos: 1 }));
      } catch (e) {
        full = e;
      }
    }
    expect(full).toBeInstanceOf(OutboxDiskFullError);
    expect(full).toMatchObject({ code: 'OUTBOX_DISK_FULL' });
    expect((full as Error).message).toContain('SQLITE_FULL');
    expect(receipts.length).toBeGreaterThan(0);
    expect(o.stats().rejected.diskFull).toBe(1);
    expect(o.depth()).toBe(receipts.length);

    const got = await subscriber('t/full');
    await attachAgent(o);
    await Promise.all(receipts.map((r) => r.acked));
    await waitFor(() => o.depth() === 0 && got.length === receipts.length, 5000, 'the stored messages sent and deleted');
    await (await o.publish('t/full', Buffer.alloc(2000, 2), { qos: 1 })).acked;
  });
});

describe('errors', () => {
  test('invalid options name the key, the expectation and the value', () => {
    const file = join(dir, 'agent.db');
    expect(() => Outbox.open({ file, maxRows: -1 })).toThrow(new OutboxConfigError('maxRows', 'an integer from 1 to 9007199254740991', -1));
    expect(() => Outbox.open({ file, maxRows: -1 })).toThrow('invalid option maxRows: expected an integer from 1 to 9007199254740991, received -1');
    expect(() => Outbox.open({ file, overflow: { dropOldestOf: [] } })).toThrow(/invalid option overflow: expected 'reject' or \{ dropOldestOf/);
    expect(() => Outbox.open({ file, ttlMs: { property: 0 } })).toThrow('invalid option ttlMs.property: expected a positive number of milliseconds, received 0');
    expect(() => Outbox.open({})).toThrow(/invalid option file/);
  });

  test('invalid messages are refused before they are stored', async () => {
    const o = track(Outbox.open({ file: join(dir, 'agent.db') }));
    await expect(o.publish('t/#', 'x', { qos: 1 })).rejects.toBeInstanceOf(OutboxInvalidMessageError);
    await expect(o.publish('', 'x', { qos: 1 })).rejects.toMatchObject({ code: 'OUTBOX_INVALID_MESSAGE' });
    await expect(o.publish('t/x', 'x', { qos: 2 as 1 })).rejects.toThrow('invalid qos: expected 0 or 1 (Alink has no QoS 2), received 2');
    expect(o.depth()).toBe(0);
  });

  test('publishing after close is refused with OUTBOX_CLOSED', async () => {
    const o = Outbox.open({ file: join(dir, 'agent.db') });
    o.close();
    await expect(o.publish('t/x', 'x', { qos: 1 })).rejects.toMatchObject({ code: 'OUTBOX_CLOSED' });
  });

  test('every error code of the outbox, the inbox and their storage is documented in agent/outbox/README.md', () => {
    const readme = readFileSync(join(__dirname, '..', 'agent', 'outbox', 'README.md'), 'utf8');
    const documented = [...readme.matchAll(/^\| `((?:OUTBOX|INBOX|STORAGE)_[A-Z_]+)` \| (.+) \|$/gm)].map((m) => [m[1], m[2]]);
    const tables = { ...STORAGE_ERROR_CODES, ...OUTBOX_ERROR_CODES, ...INBOX_ERROR_CODES };
    expect(Object.fromEntries(documented)).toEqual(tables);
    expect(documented).toHaveLength(Object.keys(tables).length);
  });
});
