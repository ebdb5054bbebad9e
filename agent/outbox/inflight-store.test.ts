/**
 * The in-flight store contract, run against every implementation, as MQTT.js runs its abstract store test
 * (`test/node/abstract_store.ts` in MQTT.js) against each of its stores: MQTT.js's own in-memory `Store`, our
 * `InflightStore` on its own, and the one a real outbox on a SQLite file hands to `mqtt.connect`. The one declared
 * difference: our store re-streams a PUBLISH with DUP=1 (MQTT 3.1.1 and 5, §3.3.1.1), MQTT.js's as it was put.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store, type IStore, type Packet } from 'mqtt';
import { Outbox } from './outbox';
import { InflightStore } from './inflight-store';

type StorePacket = Parameters<IStore['put']>[0];

interface Implementation {
  name: string;
  build(): IStore;
  /** A re-streamed PUBLISH carries DUP=1. */
  dupOnReplay: boolean;
  teardown?(): void;
}

let dir: string | undefined;
let outbox: Outbox | undefined;

const implementations: Implementation[] = [
  { name: "MQTT.js's in-memory Store", build: () => new Store(), dupOnReplay: false },
  { name: 'InflightStore', build: () => new InflightStore({ onReplay: () => undefined, onClose: () => undefined }), dupOnReplay: true },
  {
    name: "the InflightStore of an outbox on a SQLite file (Outbox.mqttOptions)",
    build: () => {
      dir = mkdtempSync(join(tmpdir(), 'inflight-contract-'));
      outbox = Outbox.open({ file: join(dir, 'agent.db'), synchronous: 'normal' });
      return outbox.mqttOptions().outgoingStore;
    },
    dupOnReplay: true,
    teardown: () => {
      outbox?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
      outbox = undefined;
      dir = undefined;
    },
  },
];

const publish = (messageId: number, payload = 'world'): StorePacket => ({ cmd: 'publish', topic: 'hello', payload, qos: 1, messageId, dup: false, retain: false });

const put = (store: IStore, p: StorePacket) => new Promise<void>((resolve, reject) => store.put(p, (err?: Error) => (err ? reject(err) : resolve())));
const settle = (fn: (cb: (err?: Error, p?: Packet) => void) => void) =>
  new Promise<{ err?: Error; packet?: Packet }>((resolve) => fn((err, packet) => resolve({ ...(err ? { err } : {}), ...(packet ? { packet } : {}) })));

/** Everything the store's stream yields, until it ends. */
function drain(store: IStore): Promise<Packet[]> {
  return new Promise((resolve, reject) => {
    const out: Packet[] = [];
    const s = store.createStream();
    s.on('data', (p: Packet) => out.push(p));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

describe.each(implementations)('in-flight store contract: $name', (impl) => {
  let store: IStore;
  const replayed = (p: StorePacket) => (impl.dupOnReplay && p.cmd === 'publish' ? { ...p, dup: true } : p);

  beforeEach(() => {
    store = impl.build();
  });
  afterEach(async () => {
    await new Promise<void>((resolve) => store.close(() => resolve()));
    impl.teardown?.();
  });

  it('puts and streams in-flight packets', async () => {
    const p = publish(42);
    await put(store, p);
    expect(await drain(store)).toEqual([replayed(p)]);
  });

  it('supports destroying the stream', async () => {
    await put(store, publish(42));
    const stream = store.createStream();
    const closed = new Promise<void>((resolve) => stream.on('close', () => resolve()));
    stream.destroy();
    await closed;
  });

  it('adds and deletes in-flight packets', async () => {
    const p = publish(42);
    await put(store, p);
    await settle((cb) => store.del(p, cb));
    expect(await drain(store)).toEqual([]);
  });

  it('replaces a packet on a put with the same messageId', async () => {
    await put(store, { cmd: 'publish', topic: 'hello', payload: 'world', qos: 2, messageId: 42, dup: false, retain: false });
    const pubrel: StorePacket = { cmd: 'pubrel', messageId: 42 };
    await put(store, pubrel);
    expect(await drain(store)).toEqual([pubrel]);
  });

  it('returns the original packet on del', async () => {
    const p = publish(42);
    await put(store, p);
    expect(await settle((cb) => store.del({ messageId: 42 }, cb))).toEqual({ packet: p });
  });

  it('gets a packet by messageId', async () => {
    const p = publish(42);
    await put(store, p);
    expect(await settle((cb) => store.get({ messageId: 42 }, cb))).toEqual({ packet: p });
  });

  it('answers get and del of a messageId it does not hold with an error', async () => {
    expect((await settle((cb) => store.get({ messageId: 7 }, cb))).err).toBeInstanceOf(Error);
    expect((await settle((cb) => store.del({ messageId: 7 }, cb))).err).toBeInstanceOf(Error);
  });

  it('streams in the order the packets were put, without the deleted ones', async () => {
    const ps = [5, 1, 9, 3].map((id) => publish(id, `m${id}`));
    for (const p of ps) await put(store, p);
    await settle((cb) => store.del({ messageId: 9 }, cb));
    expect(await drain(store)).toEqual([ps[0], ps[1], ps[3]].map((p) => replayed(p as StorePacket)));
  });
});

describe('InflightStore beyond the contract', () => {
  it('streams nothing before the beforeReplay gate settles, then everything, and reports the replay', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const replays: number[] = [];
    const held: number[][] = [];
    const store = new InflightStore({ beforeReplay: (ids) => (held.push(ids), gate), onReplay: (n) => replays.push(n), onClose: () => undefined });
    await put(store, publish(1));
    await put(store, publish(2));
    const got: Packet[] = [];
    const stream = store.createStream();
    stream.on('data', (p: Packet) => got.push(p));
    const ended = new Promise<void>((resolve) => stream.on('end', () => resolve()));
    await new Promise((r) => setImmediate(r));
    expect(held).toEqual([[1, 2]]);
    expect(got).toEqual([]);
    expect(replays).toEqual([]);
    open();
    await ended;
    expect(got.map((p) => p.messageId)).toEqual([1, 2]);
    expect(replays).toEqual([2]);
  });

  it('refuses a packet without messageId and tells the outbox when MQTT.js closes it', async () => {
    let closed = 0;
    const store = new InflightStore({ onReplay: () => undefined, onClose: () => void closed++ });
    await expect(put(store, { cmd: 'publish', topic: 't', payload: 'x', qos: 0, dup: false, retain: false })).rejects.toThrow('without messageId');
    await put(store, publish(1));
    await new Promise<void>((resolve) => store.close(() => resolve()));
    expect(closed).toBe(1);
    expect(store.size).toBe(0);
  });
});
