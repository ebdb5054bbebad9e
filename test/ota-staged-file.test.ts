/**
 * The pipelined StagedFile (agent/ota/staged-file.ts, docs/ota.md "Download"): a full block is written while the
 * next one fills, at most two blocks are held, writes never wait for an fsync, and each recorded offset was on disk
 * when recorded; a failed write or fsync mid-pipeline, or a connection dropped while a block is being written,
 * leaves the file a prefix it can resume from to the right digest; a new start in the same boot keeps what the
 * file holds, after a reboot only the record. Faults are injected into the real file handle's `write`/`datasync`;
 * the file, the SQLite record and the HTTP server are real. Every case runs twice: with the native addon (blocks
 * hashed on the thread pool, fsynced ranges dropped from the page cache) and without it (node:crypto, no drops).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open as openFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { openAgentDb, type AgentDb } from '../agent/storage';
import { StagedFile } from '../agent/ota/staged-file';
import { loadStagedIo, nodeHash, type StagedIo } from '../agent/ota/staged-io';
import { downloadAttempt } from '../agent/ota/http-download';
import { SqliteOtaStore } from '../agent/ota/store';
import { bytes, sha256, startFileServer, type FileServer } from './ota-support';

const BLOCK = 64 * 1024;
const CHUNK = 16 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Method = 'write' | 'datasync';

/** The prototype of fs/promises' FileHandle, whose methods StagedFile calls. */
async function handleProto(dir: string): Promise<FileHandle> {
  const fh = await openFile(join(dir, 'probe'), 'w');
  await fh.close();
  return Object.getPrototypeOf(fh) as FileHandle;
}

const IO: [string, () => StagedIo][] = [
  ['with the native addon', () => loadStagedIo()],
  ['with node:crypto and no page-cache drops', () => ({ hash: (m) => nodeHash(m) })],
];

it('the native addon is built, so the first variant uses it', () => {
  const io = loadStagedIo();
  expect(io.dropCache).toBeInstanceOf(Function);
  // A pool hash's update answers a promise; node:crypto's is done at once.
  expect(typeof io.hash('sha256').update(Buffer.from('x'))?.then).toBe('function');
});

describe.each(IO)('StagedFile pipeline, %s', (_name, makeIo) => {
  let dir: string;
  let db: AgentDb;
  let store: SqliteOtaStore;
  let proto: FileHandle;
  /** Every record, with what the file held on disk at that moment. */
  let records: { at: number; onDisk: Buffer }[];
  let path: string;
  let server: FileServer | undefined;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ota-staged-'));
    db = openAgentDb({ file: join(dir, 'agent.db'), logger: pino({ level: 'silent' }) });
    store = new SqliteOtaStore(db);
    proto = await handleProto(dir);
    records = [];
    path = join(dir, 'fw.bin');
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    db.close();
    await server?.close();
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const open = (offset: number, size: number, sign: string) =>
    StagedFile.open(path, 'sha256', offset, BLOCK, (at) => {
      records.push({ at, onDisk: readFileSync(path) });
      store.setOffset('pk/dn', 'default', 0, at, size, sign);
    }, makeIo());

  /** Every record names bytes that were on disk, equal to the body's, when it was made. */
  const expectDurablePrefixes = (body: Buffer) => {
    for (const r of records) {
      expect(r.onDisk.length).toBeGreaterThanOrEqual(r.at);
      expect(r.onDisk.subarray(0, r.at).equals(body.subarray(0, r.at))).toBe(true);
    }
  };

  /** Makes `method` of every file handle slower by `ms`, or fail (once) on its `failOn`-th call. */
  function inject(method: Method, o: { delayMs?: number; failOn?: number }): { calls: number } {
    const real = proto[method] as (...a: unknown[]) => Promise<unknown>;
    const state = { calls: 0 };
    jest.spyOn(proto, method).mockImplementation(async function (this: FileHandle, ...args: unknown[]) {
      state.calls++;
      if (o.delayMs) await sleep(o.delayMs);
      if (state.calls === o.failOn) throw Object.assign(new Error(`EIO injected into ${method}`), { code: 'EIO' });
      return real.apply(this, args);
    } as never);
    return state;
  }

  it('fills the next block while the previous one is written, holding at most two, and never waits for an fsync to write', async () => {
    const body = bytes(10 * BLOCK + 1234, 5);
    inject('write', { delayMs: 10 });
    const syncs = inject('datasync', { delayMs: 40 });
    const file = await open(0, body.length, sha256(body));
    let overlapped = false;
    for (let at = 0; at < body.length; at += CHUNK) {
      await file.append(body.subarray(at, at + CHUNK));
      // What the next request asks from (the MQTT downloader's offset, the size check), whichever write finished.
      expect(file.received).toBe(Math.min(at + CHUNK, body.length));
      await sleep(4);
      expect(file.received).toBe(Math.min(at + CHUNK, body.length));
      // Bytes past the file's end: the block being written and the one filling, never more.
      expect(file.received - file.offset).toBeLessThanOrEqual(2 * BLOCK);
      if (file.received - file.offset > BLOCK) overlapped = true;
      // The record never runs ahead of what was written.
      expect(file.durable).toBeLessThanOrEqual(file.offset);
    }
    await file.flush();
    expect(overlapped).toBe(true);
    // Ten blocks written while each fsync takes four blocks' time: the fsyncs covered several writes each.
    expect(syncs.calls).toBeLessThan(10);
    expect(file.offset).toBe(body.length);
    expect(file.durable).toBe(body.length);
    expect(file.digest()).toBe(sha256(body));
    await file.close();
    const at = records.map((r) => r.at);
    expect(at).toEqual([...at].sort((a, b) => a - b));
    expect(at[at.length - 1]).toBe(body.length);
    expectDurablePrefixes(body);
    expect(readFileSync(path).equals(body)).toBe(true);
    expect(store.offset('pk/dn', 'default', 0)).toBe(body.length);
  });

  it('a failed write mid-pipeline rejects, keeps the file at the last good block, and the resume completes', async () => {
    const body = bytes(8 * BLOCK + 777, 9);
    // The third block's write fails while the fourth block fills.
    const fault = inject('write', { failOn: 3, delayMs: 5 });
    const file = await open(0, body.length, sha256(body));
    let failure: unknown;
    let at = 0;
    for (; at < body.length && !failure; at += CHUNK) await file.append(body.subarray(at, at + CHUNK)).catch((e: unknown) => (failure = e));
    expect(String(failure)).toContain('EIO injected into write');
    expect(fault.calls).toBe(3);
    // Two blocks in the file; the failed block and the one filling behind it are dropped.
    expect(file.offset).toBe(2 * BLOCK);
    expect(file.received).toBe(2 * BLOCK);
    await file.flush();
    expect(file.durable).toBe(2 * BLOCK);
    expect(store.offset('pk/dn', 'default', 0)).toBe(2 * BLOCK);

    // The next attempt asks for the rest from the file's end (what downloadAttempt's Range does).
    for (at = file.offset; at < body.length; at += CHUNK) await file.append(body.subarray(at, Math.min(at + CHUNK, body.length)));
    await file.flush();
    expect(file.digest()).toBe(sha256(body));
    await file.close();
    expectDurablePrefixes(body);
    expect(readFileSync(path).equals(body)).toBe(true);
  });

  it('a failed fsync takes the file back to its durable prefix, rejects, and the resume completes', async () => {
    const body = bytes(8 * BLOCK + 777, 9);
    inject('datasync', { failOn: 2, delayMs: 5 });
    const file = await open(0, body.length, sha256(body));
    let failure: unknown;
    for (let at = 0; at < body.length && !failure; at += CHUNK) {
      await file.append(body.subarray(at, at + CHUNK)).catch((e: unknown) => (failure = e));
      await sleep(2);
    }
    if (!failure) await file.flush().catch((e: unknown) => (failure = e));
    expect(String(failure)).toContain('EIO injected into datasync');
    // What the failed fsync covered is not trusted: the file is back at the last recorded offset.
    const recorded = store.offset('pk/dn', 'default', 0);
    expect(file.offset).toBe(recorded);
    expect(file.received).toBe(recorded);
    expect(readFileSync(path).length).toBe(recorded);
    expect(recorded % BLOCK).toBe(0);
    for (let at = file.offset; at < body.length; at += CHUNK) await file.append(body.subarray(at, Math.min(at + CHUNK, body.length)));
    await file.flush();
    expect(file.digest()).toBe(sha256(body));
    await file.close();
    expectDurablePrefixes(body);
    expect(readFileSync(path).equals(body)).toBe(true);
  });

  it('a new start in the same boot keeps what the file holds past the record; after a reboot only the record', async () => {
    const body = bytes(6 * BLOCK, 21);
    inject('datasync', { delayMs: 200 });
    const file = await open(0, body.length, sha256(body));
    await file.append(body.subarray(0, 3 * BLOCK + CHUNK));
    await sleep(50);
    // Written, not yet fsynced: the process "dies" here (no flush).
    expect(file.offset).toBe(3 * BLOCK);
    const recorded = store.offset('pk/dn', 'default', 0);
    expect(recorded).toBeLessThan(3 * BLOCK);
    await file.close();
    jest.restoreAllMocks();
    const same = await open(recorded, body.length, sha256(body));
    expect(same.offset).toBe(3 * BLOCK);
    expect(same.durable).toBe(recorded);
    await same.close();
    // Another boot: the sidecar names a different boot id, so only the recorded prefix is trusted.
    writeFileSync(`${path}.boot`, 'another-boot');
    const rebooted = await open(recorded, body.length, sha256(body));
    expect(rebooted.offset).toBe(recorded);
    expect(readFileSync(path).length).toBe(recorded);
    await rebooted.append(body.subarray(recorded));
    await rebooted.flush();
    expect(rebooted.digest()).toBe(sha256(body));
    await rebooted.close();
  });

  it('a connection dropped while a block is being written: what was received becomes durable and recorded, then Range resumes from it', async () => {
    server = await startFileServer();
    const body = bytes(12 * BLOCK + 4321, 11);
    const drop = 5 * BLOCK + 20_000;
    server.files.set('/fw.bin', { body, dropAfter: drop, drops: 1 });
    inject('datasync', { delayMs: 20 });
    const opts = { url: server.url('/fw.bin'), size: body.length, idleTimeoutMs: 5000, signal: new AbortController().signal };
    let file = await open(0, body.length, sha256(body));
    await expect(downloadAttempt(file, opts)).rejects.toThrow(/aborted|connection closed/);
    // What the stream had handed over was flushed and recorded (bytes it still buffered at the drop are lost
    // with the stream's error); the record and the file agree.
    const recorded = store.offset('pk/dn', 'default', 0);
    expect(file.offset).toBe(recorded);
    expect(recorded).toBeGreaterThan(BLOCK);
    expect(recorded).toBeLessThanOrEqual(drop);
    expect(readFileSync(path).length).toBe(recorded);
    await file.close();

    file = await open(store.offset('pk/dn', 'default', 0), body.length, sha256(body));
    await downloadAttempt(file, opts);
    expect(file.digest()).toBe(sha256(body));
    await file.close();
    expect(server.log.map((l) => [l.status, l.start])).toEqual([
      [200, 0],
      [206, recorded],
    ]);
    expectDurablePrefixes(body);
    expect(readFileSync(path).equals(body)).toBe(true);
  });

  it('close() waits for a write under way; a new open resumes from what was recorded', async () => {
    const body = bytes(3 * BLOCK, 13);
    inject('datasync', { delayMs: 30 });
    const file = await open(0, body.length, sha256(body));
    await file.append(body.subarray(0, BLOCK + CHUNK));
    expect(file.durable).toBe(0);
    await file.close();
    // The first block's write and fsync finished before the handle closed; the partial second block was never written.
    expect(store.offset('pk/dn', 'default', 0)).toBe(BLOCK);
    jest.restoreAllMocks();
    const again = await open(store.offset('pk/dn', 'default', 0), body.length, sha256(body));
    expect(again.offset).toBe(BLOCK);
    await again.append(body.subarray(BLOCK));
    await again.flush();
    expect(again.digest()).toBe(sha256(body));
    await again.close();
  });
});
