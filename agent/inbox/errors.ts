/**
 * The errors the inbox hands to a caller, as a table of coded constructors. Opening its own file fails with the
 * storage module's `STORAGE_*` errors. `agent/outbox/README.md` lists the same codes; a test keeps the two in sync.
 */
import { describe, errorMessage } from '../storage/errors';

/** The error codes of the inbox, with what each means. */
export const INBOX_ERROR_CODES = {
  INBOX_CONFIG: 'an option of Inbox.open is invalid',
  INBOX_STORAGE: 'SQLite failed while preparing the inbox table',
  INBOX_CLOSED: 'get or put was called after the inbox was closed',
} as const;

/** One of the codes in {@link INBOX_ERROR_CODES}. */
export type InboxErrorCode = keyof typeof INBOX_ERROR_CODES;

/** Base class of every inbox error; `code` is stable, `message` is for humans. */
export class InboxError extends Error {
  readonly code: InboxErrorCode;

  constructor(code: InboxErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An option of `Inbox.open` is missing or out of range. */
export class InboxConfigError extends InboxError {
  constructor(
    readonly key: string,
    readonly expected: string,
    received: unknown,
  ) {
    super('INBOX_CONFIG', `invalid option ${key}: expected ${expected}, received ${describe(received)}`);
  }
}

/** The inbox table could not be created or its statements prepared. */
export class InboxStorageError extends InboxError {
  constructor(
    what: string,
    readonly sqliteCode: string | undefined,
    cause: unknown,
  ) {
    super('INBOX_STORAGE', `inbox storage failed while ${what}: ${sqliteCode ?? 'no SQLite code'}: ${errorMessage(cause)}`, { cause });
  }
}

/** `get` or `put` after `close()`. */
export class InboxClosedError extends InboxError {
  constructor(what: string) {
    super('INBOX_CLOSED', `inbox closed: ${what}`);
  }
}
