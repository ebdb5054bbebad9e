/**
 * The options of `Outbox.open`, their defaults, and their validation. Options are checked once and frozen; a bad
 * one throws {@link OutboxConfigError} naming the key, what was expected and what was received.
 */
import type { Logger } from 'pino';
import type { MessageClass } from '../transport';
import type { AgentDb, SyncMode } from '../storage/db';
import { OutboxConfigError, type DropReason } from './errors';

/**
 * What to do when a new message does not fit under `maxRows`/`maxBytes` (after expired messages were dropped):
 * `'reject'` refuses it with `OutboxFullError`; `{ dropOldestOf }` drops the oldest not-yet-sent messages of those
 * classes until it fits, and refuses it only when there are none left.
 */
export type OverflowPolicy = 'reject' | { dropOldestOf: readonly MessageClass[] };

/** What `onDrop` is told about each message that left the outbox without a PUBACK. */
export interface DropInfo {
  reason: DropReason;
  /** The outbox sequence number (its order of acceptance). */
  seq: number;
  topic: string;
  messageClass: MessageClass;
  /** Milliseconds between acceptance and the drop. */
  ageMs: number;
  /** For `refused`: the MQTT 5 PUBACK reason code. */
  reasonCode?: number;
}

/** Options of `Outbox.open`. Give `file` (the outbox owns the handle) or `db` (shared, e.g. with the inbox). */
export interface OutboxOptions {
  /** SQLite file, e.g. `${dataDir}/agent.db`; opened with WAL, corrupt files are moved aside. */
  file?: string;
  /** An open handle from `openAgentDb` (shared with the inbox); the outbox does not close it. */
  db?: AgentDb;
  /** Bound on stored messages (pending and in flight). Default 100000. */
  maxRows?: number;
  /** Bound on stored bytes (topic + payload + properties). Default 64 MiB. */
  maxBytes?: number;
  /** Default `'reject'`. */
  overflow?: OverflowPolicy;
  /** Time to live per message class in ms; an expired message is dropped, not sent. Classes absent never expire. */
  ttlMs?: Partial<Record<MessageClass, number>>;
  /** Most QoS 1 messages handed to MQTT.js at once; also capped by the broker's Receive Maximum. Default 1000. */
  maxInflight?: number;
  /** Most messages in one transaction (one fsync). Default 4096. */
  maxBatch?: number;
  /** When `file` is given: `full` (default, survives a power cut) or `normal` (survives a process crash); see README. */
  synchronous?: SyncMode;
  /** How often expired messages are swept while nothing is sent. Default 60000; 0 disables the timer. */
  sweepIntervalMs?: number;
  /** pino logger; the outbox logs through a child `{ component: 'outbox' }`. Default: silent. */
  logger?: Logger;
  /** Called once per dropped message, for metrics. Exceptions it throws are logged and ignored. */
  onDrop?: (info: DropInfo) => void;
  /** Clock in epoch ms (tests). Default `Date.now`. */
  now?: () => number;
  /** What becomes of a message that waited longer than the platform accepts for its kind; absent: sent as it is. */
  aged?: AgedPolicy;
}

/**
 * Messages of `classes` that waited at least `afterMs` since acceptance are passed to `rewrite` when they are (re)sent:
 * the platform refuses ordinary posts whose time is too old, and takes them as history posts instead
 * (docs/protocol/history-post.md). The stored row is never changed, so a re-send after a reconnect is rewritten again
 * the same way.
 */
export interface AgedPolicy {
  readonly afterMs: number;
  readonly classes: readonly MessageClass[];
  /** The message as it goes out now, or `undefined` to drop it (counted as `aged`). Must not throw. */
  rewrite(row: { topic: string; payload: Buffer; createdAt: number }): { topic: string; payload: Buffer } | undefined;
}

/** Options after defaults and validation. */
export interface ResolvedOutboxOptions {
  readonly maxRows: number;
  readonly maxBytes: number;
  readonly overflow: 'reject' | { readonly dropOldestOf: readonly string[] };
  readonly ttlMs: Readonly<Record<string, number>>;
  readonly maxInflight: number;
  readonly maxBatch: number;
  readonly synchronous: SyncMode;
  readonly sweepIntervalMs: number;
}

function positiveInt(key: string, v: unknown, dflt: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
    throw new OutboxConfigError(key, `an integer from 1 to ${max}`, v);
  }
  return v;
}

/** Checks and completes `Outbox.open` options (everything but handles and callbacks). */
export function resolveOutboxOptions(o: OutboxOptions): ResolvedOutboxOptions {
  if (o.file === undefined && o.db === undefined) throw new OutboxConfigError('file', 'a path (or a db handle in db)', undefined);
  if (o.file !== undefined && (typeof o.file !== 'string' || o.file === '')) {
    throw new OutboxConfigError('file', 'a non-empty path', o.file);
  }
  let overflow: ResolvedOutboxOptions['overflow'] = 'reject';
  if (o.overflow !== undefined && o.overflow !== 'reject') {
    const classes = (o.overflow as { dropOldestOf?: unknown }).dropOldestOf;
    if (!Array.isArray(classes) || classes.length === 0 || !classes.every((c) => typeof c === 'string' && c !== '')) {
      throw new OutboxConfigError('overflow', "'reject' or { dropOldestOf: [one or more message classes] }", o.overflow);
    }
    overflow = Object.freeze({ dropOldestOf: Object.freeze([...new Set(classes as string[])]) });
  }
  const ttlMs: Record<string, number> = {};
  for (const [cls, ms] of Object.entries(o.ttlMs ?? {})) {
    if (ms === undefined) continue;
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) {
      throw new OutboxConfigError(`ttlMs.${cls}`, 'a positive number of milliseconds', ms);
    }
    ttlMs[cls] = ms;
  }
  if (o.synchronous !== undefined && o.synchronous !== 'full' && o.synchronous !== 'normal') {
    throw new OutboxConfigError('synchronous', "'full' or 'normal'", o.synchronous);
  }
  const sweep = o.sweepIntervalMs ?? 60_000;
  if (typeof sweep !== 'number' || !Number.isInteger(sweep) || sweep < 0) {
    throw new OutboxConfigError('sweepIntervalMs', 'an integer >= 0 (0 disables the sweep)', sweep);
  }
  if (o.onDrop !== undefined && typeof o.onDrop !== 'function') throw new OutboxConfigError('onDrop', 'a function', o.onDrop);
  if (o.aged !== undefined) {
    positiveInt('aged.afterMs', o.aged.afterMs, 1);
    if (!Array.isArray(o.aged.classes)) throw new OutboxConfigError('aged.classes', 'a list of message classes', o.aged.classes);
    if (typeof o.aged.rewrite !== 'function') throw new OutboxConfigError('aged.rewrite', 'a function', o.aged.rewrite);
  }
  return Object.freeze({
    maxRows: positiveInt('maxRows', o.maxRows, 100_000),
    maxBytes: positiveInt('maxBytes', o.maxBytes, 64 * 1024 * 1024),
    overflow,
    ttlMs: Object.freeze(ttlMs),
    // 65535 packet ids exist; keep a few for SUBSCRIBE/UNSUBSCRIBE.
    maxInflight: positiveInt('maxInflight', o.maxInflight, 1000, 65000),
    maxBatch: positiveInt('maxBatch', o.maxBatch, 4096),
    synchronous: o.synchronous ?? 'full',
    sweepIntervalMs: sweep,
  });
}

/** Human-readable policy for error messages and logs. */
export function describePolicy(p: ResolvedOutboxOptions['overflow']): string {
  return p === 'reject' ? 'reject' : `dropOldestOf ${p.dropOldestOf.join(', ')}`;
}
