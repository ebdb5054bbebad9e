/**
 * Every error the outbox hands to a caller, as a table of coded constructors: the code is the contract, the message
 * is for people and names the key with the expected and received values. Opening the file itself fails with the
 * storage module's `STORAGE_*` errors (`agent/storage/errors.ts`). `agent/outbox/README.md` lists the same codes;
 * a test keeps the two in sync.
 */
import { describe, errorMessage } from '../storage/errors';

export { describe, errorMessage, sqliteCode } from '../storage/errors';

/** The error codes of the outbox, with what each means. */
export const OUTBOX_ERROR_CODES = {
  OUTBOX_FULL: 'the row or byte bound refused a new message (policy reject, or nothing left to drop)',
  OUTBOX_DISK_FULL: 'SQLite reported SQLITE_FULL while persisting the message (disk or max_page_count full)',
  OUTBOX_STORAGE: 'any other SQLite failure while persisting a message or preparing the outbox table',
  OUTBOX_CLOSED: 'the outbox was closed before the operation completed',
  OUTBOX_DROPPED: 'an accepted message was dropped before its PUBACK (expired, evicted, aged out, or refused by the broker)',
  OUTBOX_NOT_ATTACHED: 'a QoS 0 publish was made before an MQTT client was attached',
  OUTBOX_SEND_FAILED: 'MQTT.js could not hand a QoS 0 message to the connection',
  OUTBOX_INVALID_MESSAGE: 'the topic, payload or QoS cannot be published',
  OUTBOX_CONFIG: 'an option of Outbox.open is invalid',
} as const;

/** One of the codes in {@link OUTBOX_ERROR_CODES}. */
export type OutboxErrorCode = keyof typeof OUTBOX_ERROR_CODES;

/** Base class of every outbox error; `code` is stable, `message` is for humans. */
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

/** The outbox was closed. A message that was already durable stays in the file and is sent after a restart. */
export class OutboxClosedError extends OutboxError {
  constructor(what: string) {
    super('OUTBOX_CLOSED', `outbox closed: ${what}`);
  }
}

/** Why an accepted message left the outbox without a PUBACK. */
/** `aged`: older than the aged-message policy allows and that policy drops (see `OutboxOptions.aged`). */
export type DropReason = 'expired' | 'evicted' | 'refused' | 'aged';

/** An accepted message was dropped; `receipt.acked` rejects with this. */
export class OutboxDroppedError extends OutboxError {
  constructor(
    readonly reason: DropReason,
    readonly seq: number,
    detail: string,
    /** For `refused`: the MQTT 5 PUBACK reason code. */
    readonly reasonCode?: number,
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
