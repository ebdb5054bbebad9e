/**
 * The downloader against a local HTTP server: Range resume after a dropped connection, the offset recorded in a
 * real SQLite file only for fsynced bytes, a resume from that record re-hashing the staged prefix from disk, a
 * server that ignores Range, a refused (expired) URL; and the MQTT block format with its CRC-16.
 */
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { openAgentDb, type AgentDb } from '../agent/storage';
import { StagedFile } from '../agent/ota/staged-file';
import { PermanentDownloadError, UrlRefusedError, downloadAttempt } from '../agent/ota/http-download';
import { SqliteOtaStore } from '../agent/ota/store';
import { crc16arc, parseBlock } from '../agent/ota/mqtt-download';
import { bytes, sha256, startFileServer, type FileServer } from './ota-support';

const BLOCK = 64 * 1024;
const opts = (url: string, size: number) => ({ url, size, idleTimeoutMs: 5000, signal: new AbortController().signal });

describe('OTA download', () => {
  let server: FileServer;
  let dir: string;
  let db: AgentDb;
  let store: SqliteOtaStore;

  beforeAll(async () => {
    server = await startFileServer();
  });
  afterAll(() => server.close());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ota-dl-'));
    db = openAgentDb({ file: join(dir, 'agent.db'), logger: pino({ level: 'silent' }) });
    store = new SqliteOtaStore(db);
    server.log.length = 0;
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const open = (path: string, offset: number, size: number, sign: string) =>
    StagedFile.open(path, 'sha256', offset, BLOCK, (at) => store.setOffset('pk/dn', 'default', 0, at, size, sign));

  it('resumes after a dropped connection with Range, recording only fsynced offsets, and the digest covers the whole file', async () => {
    const body = bytes(1_000_000, 7);
    server.files.set('/fw.bin', { body, dropAfter: 300_000, drops: 1 });
    const path = join(dir, 'fw.bin');
    let file = await open(path, 0, body.length, sha256(body));
    await expect(downloadAttempt(file, opts(server.url('/fw.bin'), body.length))).rejects.toThrow();
    // What the stream delivered before the drop was flushed, the partial block included (past the 4 full blocks);
    // the record says exactly what the file holds.
    const recorded = store.offset('pk/dn', 'default', 0);
    expect(recorded).toBeGreaterThan(4 * BLOCK);
    expect(recorded).toBeLessThanOrEqual(300_000);
    expect(readFileSync(path).length).toBe(recorded);
    await file.close();

    // A new process: the hash is rebuilt from the bytes on disk, the next request starts at the record.
    file = await open(path, store.offset('pk/dn', 'default', 0), body.length, sha256(body));
    await downloadAttempt(file, opts(server.url('/fw.bin'), body.length));
    expect(file.digest()).toBe(sha256(body));
    await file.close();
    expect(server.log.map((l) => [l.status, l.start, l.sent])).toEqual([
      [200, 0, 300_000],
      [206, recorded, body.length - recorded],
    ]);
    expect(readFileSync(path).equals(body)).toBe(true);
    expect(store.offset('pk/dn', 'default', 0)).toBe(body.length);
  });

  it('truncates bytes past the recorded offset (written but never confirmed) before resuming', async () => {
    const body = bytes(200_000, 3);
    server.files.set('/a.bin', { body });
    const path = join(dir, 'a.bin');
    // 150 000 bytes on disk, of which only 131 072 were recorded (a kill -9 between write and record), the tail garbage.
    writeFileSync(path, Buffer.concat([body.subarray(0, 131_072), Buffer.alloc(18_928, 0xee)]));
    const file = await open(path, 131_072, body.length, sha256(body));
    await downloadAttempt(file, opts(server.url('/a.bin'), body.length));
    expect(file.digest()).toBe(sha256(body));
    await file.close();
    expect(server.log[0]).toMatchObject({ status: 206, start: 131_072, sent: 200_000 - 131_072 });
  });

  it('starts over when the server ignores Range, and when the record is past the file end', async () => {
    const body = bytes(100_000, 5);
    server.files.set('/b.bin', { body });
    const path = join(dir, 'b.bin');
    writeFileSync(path, body.subarray(0, 50_000));
    truncateSync(path, 40_000);
    const file = await open(path, 50_000, body.length, sha256(body));
    expect(file.offset).toBe(0);
    await downloadAttempt(file, opts(server.url('/b.bin'), body.length));
    expect(file.digest()).toBe(sha256(body));
    await file.close();
    server.files.set('/b.bin', { body, ignoreRange: true });
    // As after a reboot: only the recorded 60 000 bytes are trusted.
    rmSync(`${path}.boot`);
    const again = await open(path, 60_000, body.length, sha256(body));
    expect(again.offset).toBe(60_000);
    await downloadAttempt(again, opts(server.url('/b.bin'), body.length));
    expect(again.digest()).toBe(sha256(body));
    await again.close();
    expect(server.log.map((l) => l.status)).toEqual([200, 200]);
  });

  it('tells an expired URL and a size the notice did not announce apart from a drop', async () => {
    server.files.set('/old.bin', { body: bytes(10), expired: true });
    server.files.set('/c.bin', { body: bytes(10) });
    const f1 = await open(join(dir, 'x'), 0, 10, '');
    await expect(downloadAttempt(f1, opts(server.url('/old.bin'), 10))).rejects.toBeInstanceOf(UrlRefusedError);
    await expect(downloadAttempt(f1, opts(server.url('/c.bin'), 11))).rejects.toBeInstanceOf(PermanentDownloadError);
    await f1.close();
  });

  it('reads MQTT download replies: header, block, CRC-16/ARC in either byte order', () => {
    expect(crc16arc(Buffer.from('123456789'))).toBe(0xbb3d);
    const data = bytes(100, 9);
    const header = Buffer.from(JSON.stringify({ code: 200, data: { bSize: 100, bOffset: 200, fileLength: 1000 } }));
    const frame = (crc: Buffer) => Buffer.concat([Buffer.from([header.length >> 8, header.length & 0xff]), header, data, crc]);
    const le = Buffer.alloc(2);
    le.writeUInt16LE(crc16arc(data));
    const be = Buffer.alloc(2);
    be.writeUInt16BE(crc16arc(data));
    expect(parseBlock(frame(le))).toEqual({ offset: 200, data });
    expect(parseBlock(frame(be))).toEqual({ offset: 200, data });
    expect(parseBlock(frame(Buffer.from([0, 0])))).toEqual({ offset: 200, error: 'CRC-16 mismatch' });
  });
});
