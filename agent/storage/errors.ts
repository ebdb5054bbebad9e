/**
 * The errors of the agent's SQLite file (opening, locking, syncing), as a table of coded constructors: the code is
 * the contract, the message is for people. The outbox and the inbox add their own families on top
 * (`OUTBOX_*`, `INBOX_*`) for what their callers do with the file. `agent/outbox/README.md` lists these codes;
 * a test keeps the two in sync.
 */

/** The error codes of the agent database, with what each means. */
export const STORAGE_ERROR_CODES = {
  STORAGE_LOCKED: 'another live process (or this one) already has the database file open',
  STORAGE_DISK_FULL: 'SQLite reported SQLITE_FULL while opening or preparing the database file',
  STORAGE_CORRUPT: 'the database file is unreadable and could not be moved aside to start a fresh one',
  STORAGE_FAILED: 'any other failure opening, locking or syncing the database file',
} as const;

/** One of the codes in {@link STORAGE_ERROR_CODES}. */
export type StorageErrorCode = keyof typeof STORAGE_ERROR_CODES;

/** Base class of every storage error; `code` is stable, `message` is for humans. */
export class StorageError extends Error {
  readonly code: StorageErrorCode;

  constructor(
    code: StorageErrorCode,
    message: string,
    /** The SQLite extended result code behind it, when SQLite gave one. */
    readonly sqliteCode?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * The database file is held by a live process, named by its pid: two agents on one file would send each other's
 * messages. One line, naming the data folder, the pid and the lock file.
 */
export class StorageLockedError extends StorageError {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
    readonly lockFile: string,
  ) {
    const who = pid === process.pid ? `this process (pid ${pid})` : `another process (pid ${pid})`;
    super('STORAGE_LOCKED', `data directory ${dataDir} is in use by ${who}: ${lockFile} is held; stop that agent or use another dataDir`);
  }
}

/** A storage failure while doing `what`: `STORAGE_DISK_FULL` for SQLITE_FULL, `STORAGE_FAILED` otherwise. */
export function storageFailure(what: string, cause: unknown): StorageError {
  const code = sqliteCode(cause);
  if (code === 'SQLITE_FULL') return new StorageError('STORAGE_DISK_FULL', `disk full (SQLITE_FULL) while ${what}`, code, { cause });
  return new StorageError('STORAGE_FAILED', `storage failed while ${what}: ${code ?? 'no SQLite code'}: ${errorMessage(cause)}`, code, { cause });
}

/** The file could not be read and could not be moved aside either. */
export function storageCorrupt(file: string, reason: string, cause: unknown): StorageError {
  return new StorageError('STORAGE_CORRUPT', `database file ${file} is unreadable (${reason}) and could not be moved aside: ${errorMessage(cause)}`, sqliteCode(cause), {
    cause,
  });
}

/** Short, log-safe rendering of a received value for error messages. */
export function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? v.slice(0, 80) + '…' : v);
  if (v === undefined || v === null || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Buffer.isBuffer(v)) return `a Buffer of ${v.length} bytes`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  try {
    const s = JSON.stringify(v);
    return s.length > 80 ? s.slice(0, 80) + '…' : s;
  } catch {
    return typeof v;
  }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The SQLite extended result code of a better-sqlite3 error (`SQLITE_FULL`, `SQLITE_CORRUPT`...), if any. */
export function sqliteCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}
