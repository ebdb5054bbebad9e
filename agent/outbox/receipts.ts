/**
 * What the outbox owes its publishers after a commit: each committed message's `receipt.acked`, settled once, by
 * its PUBACK, its drop, or the outbox closing. The group commit registers a row's receipt when the row is committed
 * (so a drop before its fsync returns can still reject it); the dispatcher resolves it on the PUBACK.
 */
import pino, { type Logger } from 'pino';
import { Deferred } from './deferred';
import { OutboxDroppedError, errorMessage, type DropReason } from './errors';
import { describePolicy, type DropInfo, type ResolvedOutboxOptions } from './options';
import type { RowSummary } from './table';

/** An accepted message leaving the outbox without a PUBACK. */
export interface Drop {
  summary: RowSummary;
  reason: DropReason;
  reasonCode?: number;
}

/** The `acked` promises of committed messages, by sequence. */
export class Receipts {
  private readonly waiters = new Map<number, Deferred<void>>();

  /** `seq` was committed: `acked` settles when it is acknowledged or dropped. */
  expect(seq: number, acked: Deferred<void>): void {
    this.waiters.set(seq, acked);
  }

  /** True while `seq`'s receipt is open (false once it was dropped, e.g. evicted in the commit that wrote it). */
  has(seq: number): boolean {
    return this.waiters.has(seq);
  }

  resolve(seq: number): void {
    const w = this.waiters.get(seq);
    if (!w) return;
    this.waiters.delete(seq);
    w.resolve();
  }

  reject(seq: number, err: Error): void {
    const w = this.waiters.get(seq);
    if (!w) return;
    this.waiters.delete(seq);
    w.reject(err);
  }

  rejectAll(err: Error): void {
    for (const w of this.waiters.values()) w.reject(err);
    this.waiters.clear();
  }
}

/** Counters shared by the outbox's parts; `stats()` copies them. */
export interface OutboxCounters {
  accepted: number;
  acked: number;
  dropped: Record<DropReason, number>;
  rejected: { full: number; diskFull: number; storage: number };
  commits: number;
  maxBatch: number;
  replays: number;
  replayedPackets: number;
}

export function newCounters(): OutboxCounters {
  return {
    accepted: 0,
    acked: 0,
    dropped: { expired: 0, evicted: 0, refused: 0, aged: 0 },
    rejected: { full: 0, diskFull: 0, storage: 0 },
    commits: 0,
    maxBatch: 0,
    replays: 0,
    replayedPackets: 0,
  };
}

export const NOOP_LOGGER = pino({ level: 'silent' });

/** Reports a drop: counted, logged, its receipt rejected, `onDrop` told. */
export function reportDrop(
  d: Drop,
  ctx: { counters: OutboxCounters; receipts: Receipts; log: Logger; now: () => number; opts: ResolvedOutboxOptions; onDrop?: (info: DropInfo) => void },
): void {
  const s = d.summary;
  ctx.counters.dropped[d.reason]++;
  const info: DropInfo = {
    reason: d.reason,
    seq: s.seq,
    topic: s.topic,
    messageClass: s.cls,
    ageMs: ctx.now() - s.created_at,
    ...(d.reasonCode !== undefined ? { reasonCode: d.reasonCode } : {}),
  };
  ctx.log.warn(info, `outbox dropped a message (${d.reason})`);
  if (ctx.receipts.has(s.seq)) {
    const detail =
      d.reason === 'refused'
        ? `broker answered PUBACK reason code ${d.reasonCode}`
        : d.reason === 'expired'
          ? `older than its time to live`
          : d.reason === 'aged'
            ? `waited longer than the platform accepts for its kind, and the aged-message policy drops it`
            : `overflow policy ${describePolicy(ctx.opts.overflow)}`;
    ctx.receipts.reject(s.seq, new OutboxDroppedError(d.reason, s.seq, detail, d.reasonCode));
  }
  if (ctx.onDrop) {
    try {
      ctx.onDrop(info);
    } catch (e) {
      ctx.log.error({ err: errorMessage(e) }, 'onDrop callback threw');
    }
  }
}
