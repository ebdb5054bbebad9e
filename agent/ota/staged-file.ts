/**
 * One file of a package on its way to the staging directory (docs/ota.md, "Download"; the numbers in
 * docs/performance.md, "OTA download"). Bytes arrive in order and are written in blocks, one write at a time, while
 * the next block fills; fdatasync runs beside the writes, and each one that ends records the offset the file had
 * when it began (`onDurable`), never more, so the recorded offset is always a prefix the disk holds even after a
 * power cut. A write does not wait for an fsync: the socket is read and the page cache filled at the link's pace.
 *
 * Opening an existing file resumes from the recorded offset (bytes past it were never confirmed on disk), except
 * in the boot that wrote them: a killed process leaves its written bytes in the page cache, whole and in order, so
 * a sidecar `{file}.boot` naming the kernel's boot id lets the next start keep them (a kill -9 costs only the block
 * that was still in memory). Either way the kept prefix is hashed again from disk: a hash's state cannot be stored,
 * and the bytes on disk are what will be installed.
 *
 * With the native addon (agent/ota/staged-io.ts; without it node:crypto and the page cache as they are):
 * - each block is hashed on the thread pool beside its write: on the JS thread that was ~120 ms per 200 MB, most
 *   of what a download cost it, and the main bound of the download (docs/performance.md, "OTA download");
 * - each fsynced range is dropped from the page cache: a 200 MB firmware passes through the few MiB not yet
 *   fsynced, the same freed pages reused block after block, instead of taking 200 MB of cache from the running
 *   services. On a VM that hands free memory back to its host, pages not reused at once fault through the host
 *   when touched again (writes into them ran at 257-301 MB/s, into pages freed just before at 4.7-5.0 GB/s).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { closeSync, fsyncSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SignMethod } from './notice';
import { loadStagedIo, type BlockHash, type StagedIo } from './staged-io';

const REHASH_CHUNK = 1024 * 1024;
const BOOT_ID = '/proc/sys/kernel/random/boot_id';

export class StagedFile {
  private hash: BlockHash;
  /** The block being filled. */
  private block: Buffer;
  /** The other block: the one being written, or free (allocated when a second block is first needed). */
  private spare: Buffer | undefined;
  private filled = 0;
  /** The write of the previous block, settling to its error (a stored rejection would be reported as unhandled). */
  private writing: Promise<Error | undefined> | undefined;
  private writingBytes = 0;
  /** Whether that write is still under way, and whether it failed: what {@link appendSync} can see without awaiting. */
  private writeBusy = false;
  private writeFailed = false;
  /** Bytes written into the file in this boot, in order: on disk or in the page cache. */
  private written: number;
  private syncing: Promise<void> | undefined;
  private syncWanted = false;
  private syncError: Error | undefined;
  /** Bytes [0, released) fsynced and handed to `io.dropCache`; the drops run one after the other, never failing. */
  private released = 0;
  private releasing: Promise<void> | undefined;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private readonly method: SignMethod,
    private durableOffset: number,
    written: number,
    hash: BlockHash,
    blockBytes: number,
    private readonly onDurable: (offset: number) => void,
    private readonly io: StagedIo,
  ) {
    this.written = written;
    this.hash = hash;
    this.block = Buffer.allocUnsafe(blockBytes);
  }

  /**
   * Opens (or creates) the file at `path` for appending after what it keeps: bytes [0, offset) as recorded, or all
   * the file holds when this boot wrote it (see the file's comment); that prefix is hashed again from disk.
   * `io` hashes and drops fsynced ranges from the page cache (default: with the native addon when it is built).
   */
  static async open(
    path: string,
    method: SignMethod,
    offset: number,
    blockBytes: number,
    onDurable: (offset: number) => void,
    io: StagedIo = loadStagedIo(),
  ): Promise<StagedFile> {
    let fh: FileHandle;
    let from = offset;
    let keep = offset;
    const boot = bootId();
    try {
      fh = await open(path, 'r+');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      fh = await open(path, 'w+');
      syncDir(path);
      from = keep = 0;
    }
    try {
      const { size } = await fh.stat();
      // A record past the file's end cannot happen with write-fsync-record; a file replaced by hand can.
      if (size < from) from = keep = 0;
      else if (boot !== undefined && readBoot(path) === boot) keep = size;
      await fh.truncate(keep);
      if (boot !== undefined) writeFileSync(`${path}.boot`, boot);
      const hash = await hashPrefix(fh, keep, io.hash(method));
      return new StagedFile(path, fh, method, from, keep, hash, blockBytes, onDurable, io);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** Bytes in the file: where the next request starts. At most an fsync ahead of {@link durable}. */
  get offset(): number {
    return this.written;
  }

  /** Bytes fsynced and recorded. */
  get durable(): number {
    return this.durableOffset;
  }

  /** Bytes received: in the file, being written, or still in the current block. */
  get received(): number {
    return this.written + this.writingBytes + this.filled;
  }

  /**
   * Appends `chunk`. A full block starts its write and the next block fills meanwhile; this waits only when that
   * one is full too and the previous write has not finished, so at most two blocks are held. Rejects with the
   * error of a failed write or fsync, the bytes received after the last good point dropped.
   */
  async append(chunk: Buffer): Promise<void> {
    await this.appendSync(chunk);
  }

  /**
   * {@link append} without a promise when none is needed: undefined once `chunk` is copied (a full block whose
   * predecessor's write had ended started its own write at once), or a promise when a full block must wait for
   * that write. Until it settles the rest of `chunk` is not copied yet: the caller must not reuse the buffer nor
   * append more. A socket read buffer is passed in straight, and the socket paused only when this returns a promise.
   */
  appendSync(chunk: Buffer): Promise<void> | undefined {
    let at = 0;
    while (at < chunk.length) {
      const n = Math.min(chunk.length - at, this.block.length - this.filled);
      chunk.copy(this.block, this.filled, at, at + n);
      this.filled += n;
      at += n;
      if (this.filled < this.block.length) continue;
      // A write that failed, or an fsync that did, is reported (and the bytes after it dropped) by the slow path.
      if (this.writeBusy || this.writeFailed || this.syncError) {
        const rest = chunk.subarray(at);
        return this.handOff().then(() => this.append(rest));
      }
      this.swap();
    }
    return undefined;
  }

  /** Writes, fsyncs and records everything received (after a dropped connection, at the end). */
  async flush(): Promise<void> {
    await this.settle();
    if (this.filled > 0) {
      const bytes = this.block.subarray(0, this.filled);
      this.filled = 0;
      this.writing = this.write(bytes);
      await this.settle();
    }
    await this.drainSync();
    if (this.durableOffset < this.written) {
      await this.fh.datasync();
      this.record(this.written);
      this.release(this.written);
    }
  }

  /** Back to an empty file (a server that ignored `Range` sends the whole file again). */
  async reset(): Promise<void> {
    await this.settle().catch(() => undefined);
    await this.drainSync().catch(() => undefined);
    this.filled = 0;
    await this.releasing;
    await this.fh.truncate(0);
    await this.fh.datasync();
    this.released = 0;
    this.written = 0;
    this.durableOffset = 0;
    this.hash = this.io.hash(this.method);
    this.onDurable(0);
  }

  /** The digest of the bytes written, lower-case hex. Ends the file's hash: call once, after {@link flush}. */
  digest(): string {
    return this.hash.digest();
  }

  /** Closes the file once a write, fsync or drop under way has ended (its bytes stay unrecorded if it failed). */
  async close(): Promise<void> {
    await this.settle().catch(() => undefined);
    await this.drainSync().catch(() => undefined);
    // A drop still running would advise whatever file gets the descriptor's number next.
    await this.releasing;
    await this.fh.close();
  }

  /** Starts the write of the full block once the previous write ended, and fills the other block meanwhile. */
  private async handOff(): Promise<void> {
    await this.settle();
    this.swap();
  }

  /** Starts the write of the full block (the previous one has ended well) and makes the other block the one to fill. */
  private swap(): void {
    const full = this.block;
    const bytes = full.subarray(0, this.filled);
    this.block = this.spare ?? Buffer.allocUnsafe(full.length);
    this.spare = full;
    this.filled = 0;
    this.writing = this.write(bytes);
  }

  /**
   * Waits for the write under way. When it (or an fsync) failed, the bytes of the block being filled follow bytes
   * that are not in the file: they are dropped too, so that `received` is the file's end again and the next attempt
   * asks for the rest from there.
   */
  private async settle(): Promise<void> {
    const err = this.writing ? await this.writing : undefined;
    this.writing = undefined;
    this.writeFailed = false;
    if (err) {
      this.filled = 0;
      throw err;
    }
    if (this.syncError) {
      this.filled = 0;
      await this.drainSync();
    }
  }

  /** Writes `bytes` at the file's end and hashes them, then has them fsynced in the background; settles to its error. */
  private async write(bytes: Buffer): Promise<Error | undefined> {
    this.writingBytes = bytes.length;
    this.writeBusy = true;
    // The block is hashed while the thread pool writes it (nothing touches it until both end), on the pool as well
    // with the addon: after the write, the hash held the socket for as long as the write, one block after the other.
    const before = this.hash.copy();
    let step = this.fh.write(bytes, 0, bytes.length, this.written);
    // Settles to its error: one stored while the write is awaited would be reported as unhandled.
    const hashing = this.hash.update(bytes)?.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    try {
      let done = 0;
      for (;;) {
        done += (await step).bytesWritten;
        if (done >= bytes.length) break;
        step = this.fh.write(bytes, done, bytes.length - done, this.written + done);
      }
      const failed = await hashing;
      if (failed) throw failed;
    } catch (e) {
      // The bytes are not in the file, or not in the hash: neither counts (a later write goes to the same offset).
      await hashing;
      this.hash = before;
      this.writeFailed = true;
      return e as Error;
    } finally {
      this.writingBytes = 0;
      this.writeBusy = false;
    }
    this.written += bytes.length;
    this.sync();
    return undefined;
  }

  /** One fdatasync at a time; each that ends records the offset written when it began, and starts the next if more came. */
  private sync(): void {
    if (this.syncing) {
      this.syncWanted = true;
      return;
    }
    const upto = this.written;
    this.syncWanted = false;
    this.syncing = this.fh.datasync().then(
      () => {
        this.syncing = undefined;
        this.record(upto);
        this.release(upto);
        if (this.syncWanted && !this.syncError) this.sync();
      },
      (e: unknown) => {
        this.syncing = undefined;
        this.syncError = e as Error;
      },
    );
  }

  /**
   * Waits for the fsync under way. After a failed one the page cache cannot be trusted to reach the disk: the file
   * goes back to its durable prefix (the next attempt asks for the rest from there) and the error is thrown.
   */
  private async drainSync(): Promise<void> {
    while (this.syncing) await this.syncing;
    const e = this.syncError;
    if (!e) return;
    this.syncError = undefined;
    this.written = this.durableOffset;
    await this.fh.truncate(this.written);
    this.hash = await hashPrefix(this.fh, this.written, this.io.hash(this.method));
    throw e;
  }

  /**
   * Drops [released, upto) from the page cache: fsynced, so its pages are clean and the kernel frees them (a dirty
   * page would be left alone). A failed drop only leaves pages cached: it is advice, the bytes are on disk.
   */
  private release(upto: number): void {
    const drop = this.io.dropCache;
    if (!drop || upto <= this.released) return;
    const from = this.released;
    const fd = this.fh.fd;
    this.released = upto;
    this.releasing = (this.releasing ?? Promise.resolve()).then(() => drop(fd, from, upto - from)).catch(() => undefined);
  }

  private record(upto: number): void {
    if (upto <= this.durableOffset) return;
    this.durableOffset = upto;
    this.onDurable(upto);
  }
}

/** The kernel's id of this boot; undefined where /proc does not say. */
function bootId(): string | undefined {
  try {
    return readFileSync(BOOT_ID, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function readBoot(path: string): string | undefined {
  try {
    return readFileSync(`${path}.boot`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

async function hashPrefix(fh: FileHandle, length: number, hash: BlockHash): Promise<BlockHash> {
  const buf = Buffer.allocUnsafe(Math.min(REHASH_CHUNK, Math.max(length, 1)));
  let pos = 0;
  while (pos < length) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, length - pos), pos);
    if (bytesRead === 0) break;
    await hash.update(buf.subarray(0, bytesRead));
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
