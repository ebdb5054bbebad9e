/**
 * The addon's file and digest calls (dropPageCache, createPoolHash) against the kernel and node:crypto.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as native from './index';

/** Resident pages of `path` per fincore(1), or undefined where it is not installed. */
function residentPages(path: string): number | undefined {
  try {
    return Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'PAGES', path], { encoding: 'utf8' }).trim());
  } catch {
    return undefined;
  }
}

describe('dropPageCache', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'native-io-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('drops the fsynced range it is given, and only that', async () => {
    const path = join(dir, 'f.bin');
    const fd = openSync(path, 'w');
    try {
      // Two writes: the kernel may cache a write in one large folio, which a drop takes whole or not at all.
      writeSync(fd, randomBytes(1 << 20));
      writeSync(fd, randomBytes(1 << 20));
      fdatasyncSync(fd);
      const before = residentPages(path);
      await expect(native.dropPageCache(fd, 0, 1 << 20)).resolves.toBeUndefined();
      const half = residentPages(path);
      await expect(native.dropPageCache(fd, 0, 0)).resolves.toBeUndefined();
      // Where fincore exists: the first half's 4 KiB pages went, then the rest (a filesystem without a page cache
      // keeps none to begin with).
      if (before !== undefined && before > 0) {
        expect(half).toBe(before / 2);
        expect(residentPages(path)).toBe(0);
      }
    } finally {
      closeSync(fd);
    }
  });

  it('rejects with the errno of a bad descriptor, and throws for arguments that are not non-negative integers', async () => {
    const fd = openSync(join(dir, 'g.bin'), 'w');
    closeSync(fd);
    await expect(native.dropPageCache(fd, 0, 0)).rejects.toMatchObject({ code: 'EBADF', errno: 9, syscall: 'posix_fadvise' });
    for (const bad of [-1, 1.5, NaN, '0']) {
      expect(() => native.dropPageCache(0, bad as number, 0)).toThrow(/offset: expected an integer/);
    }
  });
});

describe('createPoolHash', () => {
  it.each(['sha256', 'md5'])('%s: the digest node:crypto gives for the same bytes, in any split, copies independent', async (alg) => {
    const data = randomBytes(3 << 20);
    const h = native.createPoolHash(alg)!;
    expect(h).toBeDefined();
    const splits = [0, 1, 4096, 100_000, 1 << 20, 3 << 20];
    for (let i = 1; i < splits.length; i++) await h.update(data.subarray(splits[i - 1], splits[i]));
    const copy = h.copy();
    await copy.update(Buffer.from('more'));
    expect(h.digest().toString('hex')).toBe(createHash(alg).update(data).digest('hex'));
    expect(copy.digest().toString('hex')).toBe(createHash(alg).update(data).update('more').digest('hex'));
  });

  it('one update at a time; nothing after the digest; an unknown algorithm throws', async () => {
    const h = native.createPoolHash('sha256')!;
    const pending = h.update(randomBytes(1 << 20));
    expect(() => h.copy()).toThrow(/update under way/);
    expect(() => h.update(Buffer.from('x'))).toThrow(/update under way/);
    await pending;
    h.digest();
    expect(() => h.digest()).toThrow(/was digested/);
    expect(() => native.createPoolHash('no-such-digest')).toThrow(/unknown algorithm/);
  });
});
