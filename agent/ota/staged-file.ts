/**
 * One file of a package on its way to the staging directory. Bytes arrive in order and are written in blocks:
 * write the block, fsync the file, then record the new offset (`onDurable`), never the other way round, so the
 * recorded offset is always a prefix the disk holds. Opening an existing file truncates it to the recorded offset
 * (bytes past it were never confirmed) and hashes that prefix again from disk: a hash's state cannot be stored,
 * and the bytes on disk are what will be installed.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SignMethod } from './notice';

const REHASH_CHUNK = 1024 * 1024;

export class StagedFile {
  private hash: Hash;
  private block: Buffer;
  private filled = 0;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private readonly method: SignMethod,
    private durableOffset: number,
    hash: Hash,
    blockBytes: number,
    private readonly onDurable: (offset: number) => void,
  ) {
    this.hash = hash;
    this.block = Buffer.allocUnsafe(blockBytes);
  }

  /** Opens (or creates) the file at `path` for appending from `offset`, re-hashing bytes [0, offset) from disk. */
  static async open(path: string, method: SignMethod, offset: number, blockBytes: number, onDurable: (offset: number) => void): Promise<StagedFile> {
    let fh: FileHandle;
    let from = offset;
    try {
      fh = await open(path, 'r+');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      fh = await open(path, 'w+');
      syncDir(path);
      from = 0;
    }
    try {
      const { size } = await fh.stat();
      // A record past the file's end cannot happen with write-fsync-record; a file replaced by hand can.
      if (size < from) from = 0;
      await fh.truncate(from);
      const hash = await hashPrefix(fh, from, method);
      return new StagedFile(path, fh, method, from, hash, blockBytes, onDurable);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** Bytes written and fsynced. */
  get offset(): number {
    return this.durableOffset;
  }

  /** Bytes received, durable or still in the current block. */
  get received(): number {
    return this.durableOffset + this.filled;
  }

  /** Appends `chunk`; every full block is written, fsynced and recorded before this resolves. */
  async append(chunk: Buffer): Promise<void> {
    let at = 0;
    while (at < chunk.length) {
      const n = Math.min(chunk.length - at, this.block.length - this.filled);
      chunk.copy(this.block, this.filled, at, at + n);
      this.filled += n;
      at += n;
      if (this.filled === this.block.length) await this.flush();
    }
  }

  /** Writes, fsyncs and records what the current block holds (after a dropped connection, at the end). */
  async flush(): Promise<void> {
    if (this.filled === 0) return;
    const bytes = this.block.subarray(0, this.filled);
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await this.fh.write(bytes, written, bytes.length - written, this.durableOffset + written);
      written += bytesWritten;
    }
    await this.fh.datasync();
    this.hash.update(bytes);
    this.durableOffset += bytes.length;
    this.filled = 0;
    this.onDurable(this.durableOffset);
  }

  /** Back to an empty file (a server that ignored `Range` sends the whole file again). */
  async reset(): Promise<void> {
    this.filled = 0;
    await this.fh.truncate(0);
    await this.fh.datasync();
    this.durableOffset = 0;
    this.hash = createHash(this.method);
    this.onDurable(0);
  }

  /** The digest of the durable bytes, lower-case hex. Ends the file's hash: call once, at the end. */
  digest(): string {
    return this.hash.digest('hex');
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

async function hashPrefix(fh: FileHandle, length: number, method: SignMethod): Promise<Hash> {
  const hash = createHash(method);
  const buf = Buffer.allocUnsafe(Math.min(REHASH_CHUNK, Math.max(length, 1)));
  let pos = 0;
  while (pos < length) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, length - pos), pos);
    if (bytesRead === 0) break;
    hash.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return hash;
}

/** A new file's directory entry must survive a power cut too. */
function syncDir(path: string): void {
  const fd = openSync(dirname(path), 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
