/**
 * The pipelined StagedFile (agent/ota/staged-file.ts, docs/ota.md "Download"): a full block is written and
 * fsynced while the next one fills, at most two blocks are held, each offset is recorded only after its block's
 * fsync; a failed write or fsync mid-pipeline, or a connection dropped while a block is being written, leaves
 * the recorded offset a prefix that is on disk, and the download resumes from it to the right digest. Faults are
 * injected into the real file handle's `write`/`datasync`; the file, the SQLite record and the HTTP server are
 * real.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { open as openFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { openAgentDb, type AgentDb } from '../agent/storage';
import { StagedFile } from '../agent/ota/staged-file';
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

describe('StagedFile pipeline', () => {
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
    });

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

  it('fills the next block while the previous one is written and fsynced, holding at most two', async () => {
    const body = bytes(10 * BLOCK + 1234, 5);
    inject('datasync', { delayMs: 15 });
    const file = await open(0, body.length, sha256(body));
    let overlapped = false;
    for (let at = 0; at < body.length; at += CHUNK) {
      await file.append(body.subarray(at, at + CHUNK));
      // What the next request asks from (the MQTT downloader's offset, the size check), whichever write finished.
      expect(file.received).toBe(Math.min(at + CHUNK, body.length));
      await sleep(8);
      expect(file.received).toBe(Math.min(at + CHUNK, body.length));
      // Bytes past the durable offset: the block being written and the one filling, never more.
      expect(file.received - file.offset).toBeLessThanOrEqual(2 * BLOCK);
      if (file.received - file.offset > BLOCK) overlapped = true;
    }
    await file.flush();
    expect(overlapped).toBe(true);
    expect(file.offset).toBe(body.length);
    expect(file.digest()).toBe(sha256(body));
    await file.close();
    expect(records.map((r) => r.at)).toEqual([...Array.from({ length: 10 }, (_, i) => (i + 1) * BLOCK), body.length]);
    expectDurablePrefixes(body);
    expect(readFileSync(path).equals(body)).toBe(true);
    expect(store.offset('pk/dn', 'default', 0)).toBe(body.length);
  });

  it.each<Method>(['write', 'datasync'])('a failed %s mid-pipeline rejects, keeps the record at the last durable block, and the resume completes', async (method) => {
    const body = bytes(8 * BLOCK + 777, 9);
    // The third block's call fails while the fourth block fills.
    const fault = inject(method, { failOn: 3, delayMs: 5 });
    const file = await open(0, body.length, sha256(body));
    let failure: unknown;
    let at = 0;
    for (; at < body.length && !failure; at += CHUNK) await file.append(body.subarray(at, at + CHUNK)).catch((e: unknown) => (failure = e));
    expect(String(failure)).toContain(`EIO injected into ${method}`);
    expect(fault.calls).toBe(3);
    // Two blocks durable and recorded; the failed block and the one filling behind it are dropped.
    expect(file.offset).toBe(2 * BLOCK);
    expect(file.received).toBe(2 * BLOCK);
    expect(store.offset('pk/dn', 'default', 0)).toBe(2 * BLOCK);
    expect(records.map((r) => r.at)).toEqual([BLOCK, 2 * BLOCK]);
    // A flush after the failure has nothing of the dropped bytes to write.
    await file.flush();
    expect(file.offset).toBe(2 * BLOCK);

    // The next attempt asks for the rest from the durable offset (what downloadAttempt's Range does).
    for (at = file.offset; at < body.length; at += CHUNK) await file.append(body.subarray(at, Math.min(at + CHUNK, body.length)));
    await file.flush();
    expect(file.digest()).toBe(sha256(body));
    await file.close();
    expectDurablePrefixes(body);
    expect(readFileSync(path).equals(body)).toBe(true);
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
    expect(file.offset).toBe(0);
    await file.close();
    // The first block's write finished before the handle closed; the partial second block was never written.
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
