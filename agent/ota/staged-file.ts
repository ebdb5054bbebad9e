/**
 * One file of a package on its way to the staging directory. Bytes arrive in order and are written in blocks:
 * write the block, fsync the file, then record the new offset (`onDurable`), never the other way round, so the
 * recorded offset is always a prefix the disk holds. That work runs on the thread pool while the next block fills
 * (two blocks, one write at a time), so the socket is read during the fsync (docs/ota.md, "Download"; the numbers
 * in docs/performance.md, "OTA download"). Opening an existing file truncates it to the recorded offset
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
  /** The block being filled. */
  private block: Buffer;
  /** The other block: the one being written, or free (allocated when a second block is first needed). */
  private spare: Buffer | undefined;
  private filled = 0;
  /** The write of the previous block, settling to its error (a stored rejection would be reported as unhandled). */
  private writing: Promise<Error | undefined> | undefined;
  private writingBytes = 0;

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

  /** Bytes received: durable, being written, or still in the current block. */
  get received(): number {
    return this.durableOffset + this.writingBytes + this.filled;
  }

  /**
   * Appends `chunk`. A full block starts its write and the next block fills meanwhile; this waits only when that
   * one is full too and the previous write has not finished, so at most two blocks are held. Rejects with the
   * error of a failed write, the bytes received after the durable offset dropped.
   */
  async append(chunk: Buffer): Promise<void> {
    let at = 0;
    while (at < chunk.length) {
      const n = Math.min(chunk.length - at, this.block.length - this.filled);
      chunk.copy(this.block, this.filled, at, at + n);
      this.filled += n;
      at += n;
      if (this.filled === this.block.length) await this.handOff();
    }
  }

  /** Writes, fsyncs and records everything received (after a dropped connection, at the end). */
  async flush(): Promise<void> {
    await this.settle();
    if (this.filled === 0) return;
    const bytes = this.block.subarray(0, this.filled);
    this.filled = 0;
    await this.persist(bytes);
  }

  /** Back to an empty file (a server that ignored `Range` sends the whole file again). */
  async reset(): Promise<void> {
    await this.settle().catch(() => undefined);
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

  /** Closes the file once a write under way has ended (its bytes stay unrecorded if it failed). */
  async close(): Promise<void> {
    await this.settle().catch(() => undefined);
    await this.fh.close();
  }

  /** Starts the write of the full block once the previous one is durable, and fills the other block meanwhile. */
  private async handOff(): Promise<void> {
    await this.settle();
    const full = this.block;
    const bytes = full.subarray(0, this.filled);
    this.block = this.spare ?? Buffer.allocUnsafe(full.length);
    this.spare = full;
    this.filled = 0;
    this.writing = this.persist(bytes).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
  }

  /**
   * Waits for the write under way. When it failed, the bytes of the block being filled follow bytes that never
   * reached the disk: they are dropped too, so that `received` is the durable offset again and the next attempt
   * asks for the rest from there.
   */
  private async settle(): Promise<void> {
    if (!this.writing) return;
    const err = await this.writing;
    this.writing = undefined;
    if (err) {
      this.filled = 0;
      throw err;
    }
  }

  /** Write, fsync, hash, record: the recorded offset never runs ahead of the disk. */
  private async persist(bytes: Buffer): Promise<void> {
    this.writingBytes = bytes.length;
    try {
      let written = 0;
      while (written < bytes.length) {
        const { bytesWritten } = await this.fh.write(bytes, written, bytes.length - written, this.durableOffset + written);
        written += bytesWritten;
      }
      await this.fh.datasync();
    } catch (e) {
      this.writingBytes = 0;
      throw e;
    }
    this.hash.update(bytes);
    // In one step: `received` must not count the block twice between here and the next settle().
    this.durableOffset += bytes.length;
    this.writingBytes = 0;
    this.onDurable(this.durableOffset);
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
