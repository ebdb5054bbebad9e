/**
 * The agent's SQLite file: opened in WAL mode with an integrity check, moved aside and recreated when unreadable,
 * and made durable by an explicit fsync of the WAL that writers request after their commits.
 *
 * Why explicit: SQLite's `synchronous=FULL` fsyncs inside COMMIT, which blocks the event loop for the whole fsync.
 * The connection runs `synchronous=NORMAL` instead (in WAL mode SQLite still syncs around checkpoints, so the file
 * is always consistent) and `AgentDb` fsyncs the WAL on libuv's thread pool, one fsync for every commit made
 * before it started. A writer reports durability only after that fsync, which gives FULL's guarantee (a reported
 * commit survives a power cut) without stopping the event loop.
 */
import Database from 'better-sqlite3';
import { closeSync, existsSync, fdatasync, fdatasyncSync, fstatSync, fsyncSync, mkdirSync, openSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { errorMessage, sqliteCode, storageCorrupt, storageFailure } from './errors';
import { lockFile } from './lock';

/** `full`: a reported commit survives a power cut. `normal`: it survives a crash of the process, not of the OS. */
export type SyncMode = 'full' | 'normal';

/** Options of {@link openAgentDb}. */
export interface OpenAgentDbOptions {
  /** Path of the database file; its directory is created if missing. */
  file: string;
  /** Default `full`. */
  synchronous?: SyncMode;
  logger?: Logger;
  /** Clock for the timestamp of a moved-aside file. */
  now?: () => Date;
}

/** A corrupt file that was moved aside while opening. */
export interface RecoveredFile {
  /** Where the unreadable file now is. */
  movedTo: string;
  /** The SQLite code or check result that condemned it. */
  reason: string;
}

const CORRUPTION_CODES = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_IOERR_SHORT_READ']);

/** True for errors that mean the file's content is unusable (as opposed to permissions, locks or a full disk). */
export function isCorruption(e: unknown): boolean {
  const code = sqliteCode(e);
  return code !== undefined && (CORRUPTION_CODES.has(code) || code.startsWith('SQLITE_CORRUPT'));
}

/**
 * One open agent database (shared by the outbox and the inbox). Writers commit through {@link AgentDb.db} and then
 * call {@link AgentDb.syncLater} or {@link AgentDb.syncNow} before telling anyone the data is stored.
 */
export class AgentDb {
  private walFd: number | undefined;
  private walIno: number | undefined;
  private syncing = false;
  private waiting: Array<(err?: Error) => void> = [];
  private startHandle: NodeJS.Immediate | undefined;
  private closed = false;
  private readonly beforeCommit = new Set<() => void>();

  constructor(
    /** The better-sqlite3 handle. */
    readonly db: Database.Database,
    readonly file: string,
    readonly durability: SyncMode,
    /** Set when the file was unreadable and moved aside during open. */
    readonly recovered?: RecoveredFile,
    /** Removes the one-process lock taken by {@link openAgentDb}; runs once, on close. */
    private readonly unlock?: () => void,
  ) {}

  /** Blocks until every commit made so far is durable (one fdatasync of the WAL; nothing in `normal`). */
  syncNow(): void {
    if (this.durability === 'normal' || this.closed) return;
    const fd = this.fd();
    if (fd !== undefined) fdatasyncSync(fd);
  }

  /**
   * Calls `cb` once every commit made before this call is durable. The fsync starts at the end of the loop turn,
   * so the writers that commit in one turn (the inbox's records, then the outbox's batch with the replies) share
   * it; calls that arrive while an fsync runs share the next one: group commit at the disk.
   */
  syncLater(cb: (err?: Error) => void): void {
    if (this.durability === 'normal' || this.closed) {
      cb();
      return;
    }
    this.waiting.push(cb);
    if (!this.syncing) this.startHandle ??= setImmediate(this.startDeferred);
  }

  private readonly startDeferred = (): void => {
    this.startHandle = undefined;
    if (!this.syncing && this.waiting.length > 0) this.startSync();
  };

  /**
   * Registers a writer that buffers its rows within a loop turn (the inbox): `flush` commits them, and runs at the
   * start of every {@link AgentDb.runBeforeCommit}, so the buffered rows are in the file before anything another
   * writer commits next (the outbox's replies, which leave right after their commit). Returns the unregistration.
   */
  onBeforeCommit(flush: () => void): () => void {
    this.beforeCommit.add(flush);
    return () => this.beforeCommit.delete(flush);
  }

  /** Called by a writer right before its own transaction: commits what the others buffered. */
  runBeforeCommit(): void {
    for (const flush of this.beforeCommit) flush();
  }

  /**
   * One small write of a table of its own (OTA jobs, sub-devices): the others' buffered rows first, then `fn` in a
   * transaction. The promise resolves once it is durable (the turn's shared fsync).
   */
  writeDurably(fn: () => void): Promise<void> {
    this.commitAfterOthers(fn);
    return new Promise((resolve, reject) => this.syncLater((err) => (err ? reject(err) : resolve())));
  }

  /** `fn` in a transaction, after what the other writers buffered this turn (their rows go in first). */
  commitAfterOthers(fn: () => void): void {
    this.runBeforeCommit();
    this.db.transaction(fn)();
  }

  /** Closes the handle; SQLite checkpoints and syncs the WAL into the file on the way. */
  close(): void {
    if (this.closed) return;
    if (this.startHandle) {
      // Their fsync was due at the end of this turn, after the handle is gone: make it now.
      clearImmediate(this.startHandle);
      this.startHandle = undefined;
      const batch = this.waiting;
      this.waiting = [];
      let err: Error | undefined;
      try {
        this.syncNow();
      } catch (e) {
        err = e as Error;
      }
      for (const cb of batch) cb(err);
    }
    this.closed = true;
    try {
      this.db.close();
    } finally {
      // Only once SQLite let go of the file may another process take it.
      this.unlock?.();
    }
    // An fsync still running keeps the descriptor until its callback; otherwise release it now.
    if (!this.syncing) this.releaseFd();
  }

  private startSync(): void {
    const batch = this.waiting;
    this.waiting = [];
    let fd: number | undefined;
    try {
      fd = this.fd();
    } catch (e) {
      for (const cb of batch) cb(e as Error);
      return;
    }
    if (fd === undefined) {
      for (const cb of batch) cb();
      return;
    }
    this.syncing = true;
    fdatasync(fd, (err) => {
      this.syncing = false;
      if (this.closed) this.releaseFd();
      for (const cb of batch) cb(err ?? undefined);
      if (this.waiting.length > 0) this.startSync();
    });
  }

  /** The WAL's descriptor, reopened if SQLite replaced the file; undefined when there is no WAL (all checkpointed). */
  private fd(): number | undefined {
    const path = `${this.file}-wal`;
    let ino: number;
    try {
      ino = statSync(path).ino;
    } catch {
      this.releaseFd();
      return undefined;
    }
    if (this.walFd !== undefined && this.walIno === ino) return this.walFd;
    this.releaseFd();
    this.walFd = openSync(path, 'r');
    this.walIno = fstatSync(this.walFd).ino;
    // A WAL file we have not seen before may be new: its directory entry must survive a power cut too.
    syncDirectory(this.file);
    return this.walFd;
  }

  private releaseFd(): void {
    if (this.walFd !== undefined) closeSync(this.walFd);
    this.walFd = undefined;
    this.walIno = undefined;
  }
}

class CorruptFile extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

function tryOpen(file: string): Database.Database {
  const db = new Database(file);
  try {
    // The first read of the header happens here: a garbage file fails with SQLITE_NOTADB, a truncated one with
    // SQLITE_CORRUPT.
    db.pragma('journal_mode = WAL');
    // quick_check reads every page once: O(file size), about 50 ms for 100,000 rows.
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new CorruptFile(`quick_check: ${String(check)}`);
    // See the file comment: durability comes from AgentDb's own WAL fsync.
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 2000');
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

/** A new -wal file must survive a power cut too: its directory entry is made durable once, at open. */
function syncDirectory(file: string): void {
  const fd = openSync(dirname(file), 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Opens (or creates) the agent database. A file SQLite cannot read (not a database, truncated, failed quick_check)
 * is renamed to `<file>.corrupt-<ISO time>` together with its `-wal`/`-shm`, logged at error level, and a fresh file
 * is created in its place. The file belongs to one process at a time (`<file>.lock`, removed on close): a live
 * holder makes this throw {@link StorageLockedError} (`STORAGE_LOCKED`). Other failures (permissions, a locked
 * file) throw {@link StorageError} (`STORAGE_FAILED`, `STORAGE_DISK_FULL`, or `STORAGE_CORRUPT` when an unreadable
 * file cannot be moved aside).
 */
export function openAgentDb(opts: OpenAgentDbOptions): AgentDb {
  const durability = opts.synchronous ?? 'full';
  const log = opts.logger;
  mkdirSync(dirname(opts.file), { recursive: true });
  const unlock = lockFile(opts.file, log);
  try {
    const { db, recovered } = openOrRecover(opts);
    return new AgentDb(db, opts.file, durability, recovered, unlock);
  } catch (e) {
    unlock();
    throw e;
  }
}

function openOrRecover(opts: OpenAgentDbOptions): { db: Database.Database; recovered?: RecoveredFile } {
  const log = opts.logger;
  try {
    return { db: tryOpen(opts.file) };
  } catch (e) {
    if (!(e instanceof CorruptFile) && !isCorruption(e)) {
      throw storageFailure(`opening ${opts.file}`, e);
    }
    const reason = e instanceof CorruptFile ? e.reason : `${sqliteCode(e)}: ${errorMessage(e)}`;
    const movedTo = `${opts.file}.corrupt-${(opts.now?.() ?? new Date()).toISOString()}`;
    // The -wal must go too: replayed onto a fresh file it would be garbage again.
    try {
      for (const suffix of ['', '-wal', '-shm']) {
        if (existsSync(opts.file + suffix)) renameSync(opts.file + suffix, movedTo + suffix);
      }
    } catch (e2) {
      throw storageCorrupt(opts.file, reason, e2);
    }
    log?.error({ file: opts.file, movedTo, reason }, 'database file unreadable: moved aside, starting a fresh one');
    try {
      return { db: tryOpen(opts.file), recovered: { movedTo, reason } };
    } catch (e2) {
      throw storageFailure(`opening a fresh ${opts.file}`, e2);
    }
  }
}
