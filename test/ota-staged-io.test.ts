/**
 * What StagedFile asks of its `io` (agent/ota/staged-io.ts): fsynced ranges are dropped from the page cache in
 * order, never past what is fsynced and recorded, all of the file by the end, and the descriptor stays open until
 * the last drop ends; a failed drop changes nothing; a failed hash update counts as a failed write; without the
 * addon the file is the same, hashed by node:crypto. The addon's calls themselves: native/io.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StagedFile } from '../agent/ota/staged-file';
import { loadStagedIo, type BlockHash, type StagedIo } from '../agent/ota/staged-io';
import { bytes, sha256 } from './ota-support';

const BLOCK = 64 * 1024;
const CHUNK = 16 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resident pages of `path` per fincore(1), or undefined where it is not installed. */
function residentPages(path: string): number | undefined {
  try {
    return Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'PAGES', path], { encoding: 'utf8' }).trim());
  } catch {
    return undefined;
  }
}

describe('StagedFile io', () => {
  let dir: string;
  let path: string;
  const real = loadStagedIo();

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ota-staged-io-'));
    path = join(dir, 'fw.bin');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('drops fsynced ranges in order, never past the record, all of the file by the flush; close waits for the last drop', async () => {
    const body = bytes(9 * BLOCK + 999, 3);
    let durable = 0;
    const drops: { offset: number; length: number; durable: number }[] = [];
    let dropping = 0;
    let closedWhileDropping = false;
    const io: StagedIo = {
      hash: real.hash,
      dropCache: async (fd, offset, length) => {
        drops.push({ offset, length, durable });
        dropping++;
        await sleep(15);
        await real.dropCache!(fd, offset, length);
        dropping--;
      },
    };
    const file = await StagedFile.open(path, 'sha256', 0, BLOCK, (at) => (durable = at), io);
    for (let at = 0; at < body.length; at += CHUNK) {
      await file.append(body.subarray(at, at + CHUNK));
      await sleep(1);
    }
    await file.flush();
    expect(file.digest()).toBe(sha256(body));
    const fh = (file as unknown as { fh: { close(): Promise<void> } }).fh;
    const close = fh.close.bind(fh);
    fh.close = () => ((closedWhileDropping = dropping > 0), close());
    await file.close();
    expect(closedWhileDropping).toBe(false);
    expect(drops.length).toBeGreaterThan(1);
    let end = 0;
    for (const d of drops) {
      expect(d.offset).toBe(end);
      expect(d.offset + d.length).toBeLessThanOrEqual(d.durable);
      end = d.offset + d.length;
    }
    expect(end).toBe(body.length);
    expect(readFileSync(path).equals(body)).toBe(true);
  });

  it('leaves none of a finished file in the page cache (fincore)', async () => {
    const body = bytes(6 * BLOCK, 4);
    const file = await StagedFile.open(path, 'sha256', 0, BLOCK, () => undefined, real);
    await file.append(body);
    await file.flush();
    await file.close();
    const pages = residentPages(path);
    if (pages === undefined) return; // no fincore here: the order test above still holds
    expect(pages).toBe(0);
  });

  it('without the addon: node:crypto on the JS thread, no drops, the same file and digest', async () => {
    const io = loadStagedIo(join(dir, 'no-native-here'));
    expect(io.dropCache).toBeUndefined();
    expect(io.hash('md5').update(Buffer.from('x'))).toBeUndefined();
    const body = bytes(4 * BLOCK + 3, 7);
    const file = await StagedFile.open(path, 'sha256', 0, BLOCK, () => undefined, io);
    await file.append(body);
    await file.flush();
    expect(file.digest()).toBe(sha256(body));
    await file.close();
    expect(readFileSync(path).equals(body)).toBe(true);
  });

  it('a failed drop changes nothing', async () => {
    const body = bytes(5 * BLOCK + 5, 6);
    let calls = 0;
    const io: StagedIo = { hash: real.hash, dropCache: () => (calls++, Promise.reject(new Error('EINVAL injected'))) };
    const file = await StagedFile.open(path, 'md5', 0, BLOCK, () => undefined, io);
    await file.append(body);
    await file.flush();
    expect(calls).toBeGreaterThan(0);
    expect(file.durable).toBe(body.length);
    await file.close();
    expect(readFileSync(path).equals(body)).toBe(true);
  });

  it('a hash update that fails is a failed write: the file stays at the last good block and the resume completes', async () => {
    const body = bytes(6 * BLOCK + 77, 8);
    let updates = 0;
    // Fails the third block's update (the first update of all is the empty prefix's none: open hashes nothing).
    const failing = (h: BlockHash): BlockHash => ({
      update: (b) => (++updates === 3 ? sleep(5).then(() => Promise.reject(new Error('hash update failed'))) : h.update(b)),
      copy: () => failing(h.copy()),
      digest: () => h.digest(),
    });
    const io: StagedIo = { hash: (m) => failing(real.hash(m)), dropCache: real.dropCache };
    const file = await StagedFile.open(path, 'sha256', 0, BLOCK, () => undefined, io);
    let failure: unknown;
    for (let at = 0; at < body.length && !failure; at += CHUNK) await file.append(body.subarray(at, at + CHUNK)).catch((e: unknown) => (failure = e));
    expect(String(failure)).toContain('hash update failed');
    expect(file.offset).toBe(2 * BLOCK);
    expect(file.received).toBe(2 * BLOCK);
    for (let at = file.offset; at < body.length; at += CHUNK) await file.append(body.subarray(at, Math.min(at + CHUNK, body.length)));
    await file.flush();
    expect(file.digest()).toBe(sha256(body));
    await file.close();
    expect(readFileSync(path).equals(body)).toBe(true);
  });
});
