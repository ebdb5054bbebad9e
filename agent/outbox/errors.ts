/**
 * Every error the outbox and inbox hand to a caller, as a table of coded constructors: the code is the contract,
 * the message is for people and names the key with the expected and received values.
 * `agent/outbox/README.md` lists the same codes; a test keeps the two in sync.
 */

/** The error codes of the outbox and inbox, with what each means. */
export const OUTBOX_ERROR_CODES = {
  OUTBOX_FULL: 'the row or byte bound refused a new message (policy reject, or nothing left to drop)',
  OUTBOX_DISK_FULL: 'SQLite reported SQLITE_FULL while persisting the message (disk or max_page_count full)',
  OUTBOX_STORAGE: 'any other SQLite failure while persisting or opening',
  OUTBOX_CLOSED: 'the outbox was closed before the operation completed',
  OUTBOX_DROPPED: 'an accepted message was dropped before its PUBACK (expired, evicted, or refused by the broker)',
  OUTBOX_NOT_ATTACHED: 'a QoS 0 publish was made before an MQTT client was attached',
  OUTBOX_SEND_FAILED: 'MQTT.js could not hand a QoS 0 message to the connection',
  OUTBOX_INVALID_MESSAGE: 'the topic, payload or QoS cannot be published',
  OUTBOX_CONFIG: 'an option of Outbox.open or Inbox.open is invalid',
  OUTBOX_LOCKED: 'another live process (or this one) already has the database file open',
} as const;

/** One of the codes in {@link OUTBOX_ERROR_CODES}. */
export type OutboxErrorCode = keyof typeof OUTBOX_ERROR_CODES;

/** Base class of every outbox and inbox error; `code` is stable, `message` is for humans. */
export class OutboxError extends Error {
  readonly code: OutboxErrorCode;

  constructor(code: OutboxErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Which bound refused a message. */
export type OutboxLimit = 'maxRows' | 'maxBytes';

/** The outbox is at its bound and the overflow policy could not make room. */
export class OutboxFullError extends OutboxError {
  constructor(
    readonly limit: OutboxLimit,
    readonly max: number,
    /** What the outbox would hold with this message in it (rows or bytes). */
    readonly needed: number,
    policy: string,
  ) {
    super('OUTBOX_FULL', `outbox full: ${limit} is ${max}, accepting this message needs ${needed} (overflow policy: ${policy})`);
  }
}

/** SQLite ran out of space (SQLITE_FULL); the message was not persisted and the outbox keeps running. */
export class OutboxDiskFullError extends OutboxError {
  constructor(file: string, cause: unknown) {
    super('OUTBOX_DISK_FULL', `outbox database ${file} is full (SQLITE_FULL): the message was not persisted`, { cause });
  }
}

/** A SQLite failure other than a full disk. */
export class OutboxStorageError extends OutboxError {
  constructor(
    what: string,
    readonly sqliteCode: string | undefined,
    cause: unknown,
  ) {
    super('OUTBOX_STORAGE', `outbox storage failed while ${what}: ${sqliteCode ?? 'no SQLite code'}: ${errorMessage(cause)}`, { cause });
  }
}

/**
 * The database file is held by a live process, named by its pid: two agents on one file would send each other's
 * messages. One line, naming the data folder, the pid and the lock file.
 */
export class OutboxLockedError extends OutboxError {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
    readonly lockFile: string,
  ) {
    const who = pid === process.pid ? `this process (pid ${pid})` : `another process (pid ${pid})`;
    super('OUTBOX_LOCKED', `data directory ${dataDir} is in use by ${who}: ${lockFile} is held; stop that agent or use another dataDir`);
  }
}

/** The outbox (or inbox) was closed. A message that was already durable stays in the file and is sent after a restart. */
export class OutboxClosedError extends OutboxError {
  constructor(what: string) {
    super('OUTBOX_CLOSED', `outbox closed: ${what}`);
  }
}

/** Why an accepted message left the outbox without a PUBACK. */
export type DropReason = 'expired' | 'evicted' | 'refused';

/** An accepted message was dropped; `receipt.acked` rejects with this. */
export class OutboxDroppedError extends OutboxError {
  constructor(
    readonly reason: DropReason,
    readonly seq: number,
    detail: string,
  ) {
    super('OUTBOX_DROPPED', `outbox dropped message ${seq} (${reason}): ${detail}`);
  }
}

/** A QoS 0 publish needs a client; call `outbox.attach(client)` first. */
export class OutboxNotAttachedError extends OutboxError {
  constructor() {
    super('OUTBOX_NOT_ATTACHED', 'outbox has no MQTT client: QoS 0 passes straight through, call attach(client) first');
  }
}

/** MQTT.js refused or failed a QoS 0 publish (e.g. the client is disconnecting); QoS 0 is never retried. */
export class OutboxSendError extends OutboxError {
  constructor(topic: string, cause: unknown) {
    super('OUTBOX_SEND_FAILED', `QoS 0 publish to ${describe(topic)} failed: ${errorMessage(cause)}`, { cause });
  }
}

/** The message cannot be published as given. */
export class OutboxInvalidMessageError extends OutboxError {
  constructor(key: string, expected: string, received: unknown) {
    super('OUTBOX_INVALID_MESSAGE', `invalid ${key}: expected ${expected}, received ${describe(received)}`);
  }
}

/** An option is missing or out of range. */
export class OutboxConfigError extends OutboxError {
  constructor(
    readonly key: string,
    readonly expected: string,
    received: unknown,
  ) {
    super('OUTBOX_CONFIG', `invalid option ${key}: expected ${expected}, received ${describe(received)}`);
  }
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
