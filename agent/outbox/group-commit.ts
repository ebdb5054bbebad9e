/**
 * The outbox's group commit: the publishes and PUBACK-deletes of one turn of the event loop go into SQLite in one
 * transaction, under the row and byte bounds (sweeping expired rows and applying the overflow policy to make room),
 * and their publishers hear "durable" once one fsync of the WAL covers them. A failed transaction refuses its
 * inserts and retries its deletes on their own. What to send, and when, is the dispatcher's job.
 */
import type { Logger } from 'pino';
import type { AgentDb } from '../storage/db';
import type { PublishReceipt } from '../transport';
import type { Deferred } from './deferred';
import { OutboxClosedError, OutboxDiskFullError, OutboxFullError, OutboxStorageError, errorMessage, sqliteCode } from './errors';
import { describePolicy, type ResolvedOutboxOptions } from './options';
import type { Drop, OutboxCounters, Receipts } from './receipts';
import type { OutboxRow, OutboxTable, RowSummary } from './table';

/** A publish waiting for its commit; once committed (seq assigned) it is its own row in the hot range. */
export interface PendingInsert extends OutboxRow {
  durable: Deferred<PublishReceipt>;
  acked: Deferred<void>;
}

/** What the group commit needs from the rest of the outbox. */
export interface GroupCommitHooks {
  /** Lowest sequence not yet handed to MQTT.js: sweeps and evictions never touch a row in flight. */
  firstUnsent(): number;
  /** `batch` was committed (its fsync may still run); `committedBefore` is the last sequence committed before it. */
  committed(batch: PendingInsert[], committedBefore: number): void;
  /** A commit ended, committed or failed: time to send what there is. */
  afterCommit(): void;
  drop(d: Drop): void;
}

export interface GroupCommitContext {
  store: AgentDb;
  table: OutboxTable;
  opts: ResolvedOutboxOptions;
  receipts: Receipts;
  counters: OutboxCounters;
  log: Logger;
  now: () => number;
  hooks: GroupCommitHooks;
}

type Run = { rows: number; bytes: number };

export class GroupCommit {
  /** Next sequence to assign; everything below it that still exists is committed. */
  nextSeq: number;
  /** Lowest sequence stored at open (or `nextSeq` when the table was empty). */
  readonly firstSeq: number;
  /** Committed rows and bytes in the table. */
  rows: number;
  bytes: number;
  private pending: PendingInsert[] = [];
  /** Rows acknowledged or dropped whose delete waits for the next commit: seq -> size. */
  private deleting = new Map<number, number>();
  /** Committed batches whose WAL fsync has not returned yet. */
  private readonly syncing = new Set<PendingInsert[]>();
  private flushHandle: NodeJS.Immediate | undefined;
  private sweepDue = false;
  private readonly sweepTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private closed = false;
  private readonly commit: (work: () => void) => void;

  constructor(private readonly c: GroupCommitContext) {
    const tx = c.store.db.transaction((work: () => void) => work());
    this.commit = (work) => tx(work);
    const t = c.table.totals();
    this.rows = t.rows;
    this.bytes = t.bytes;
    this.nextSeq = (t.maxSeq ?? 0) + 1;
    this.firstSeq = t.minSeq ?? this.nextSeq;
    if (c.opts.sweepIntervalMs > 0) {
      this.sweepTimer = setInterval(() => {
        this.sweepDue = true;
        this.schedule();
      }, c.opts.sweepIntervalMs);
      this.sweepTimer.unref();
    }
  }

  /** Queues a publish for the next commit. */
  queue(p: PendingInsert): void {
    this.pending.push(p);
    this.schedule();
  }

  /** `seq` was acknowledged or dropped: its delete joins the next commit. */
  remove(seq: number, size: number): void {
    this.deleting.set(seq, size);
    this.schedule();
  }

  /** True while `seq`'s delete waits for the next commit (the dispatcher must not send it again). */
  isDeleting(seq: number): boolean {
    return this.deleting.has(seq);
  }

  /** Durable messages not yet acknowledged or dropped. */
  depth(): number {
    return this.rows - this.deleting.size;
  }

  /** Drops what expired while the agent was down. */
  sweepAtOpen(): void {
    const drops: Drop[] = [];
    let rows = this.rows;
    let bytes = this.bytes;
    const from = this.c.hooks.firstUnsent();
    this.commit(() => {
      for (const r of this.c.table.sweepExpired(this.c.now(), from)) {
        rows--;
        bytes -= r.size;
        drops.push({ summary: r, reason: 'expired' });
      }
    });
    this.rows = rows;
    this.bytes = bytes;
    for (const d of drops) this.c.hooks.drop(d);
    if (this.rows > 0) this.c.log.info({ pending: this.rows, bytes: this.bytes, firstSeq: from }, 'outbox opened with pending messages');
  }

  /** Stops the timers and commits what is pending, a bounded number of rounds. */
  drain(): void {
    if (this.closing) return;
    this.closing = true;
    if (this.flushHandle) clearImmediate(this.flushHandle);
    this.flushHandle = undefined;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    // Bounded: each round takes up to maxBatch inserts; one extra round retries deletes.
    for (let i = Math.ceil(this.pending.length / this.c.opts.maxBatch) + 1; i > 0; i--) {
      if (this.pending.length === 0 && this.deleting.size === 0) break;
      this.flush();
    }
  }

  /** After {@link drain}: makes what is committed durable now (synchronously) and refuses what never was. */
  finish(): void {
    try {
      this.c.store.syncNow();
      for (const batch of [...this.syncing]) this.settleDurable(batch, undefined);
    } catch (e) {
      for (const batch of [...this.syncing]) this.settleDurable(batch, e as Error);
    }
    this.closed = true;
    for (const p of this.pending) p.durable.reject(new OutboxClosedError('closed before the message was persisted'));
    this.pending = [];
  }

  private schedule(): void {
    // While closing, drain() itself flushes, a bounded number of times.
    if (this.flushHandle || this.closed || this.closing) return;
    // setImmediate runs after the I/O callbacks of this loop turn: every publish and PUBACK that arrived together
    // lands in one transaction, i.e. one fsync.
    this.flushHandle = setImmediate(this.flushNow);
  }

  private readonly flushNow = (): void => {
    this.flushHandle = undefined;
    this.flush();
  };

  /** One group commit: deletes, due sweep, then inserts under the bounds. */
  private flush(): void {
    if (this.closed) return;
    const { table, opts, store } = this.c;
    const inserts = this.pending.length <= opts.maxBatch ? this.pending : this.pending.slice(0, opts.maxBatch);
    this.pending = inserts === this.pending ? [] : this.pending.slice(inserts.length);
    // Taken whole: the map fills again from PUBACKs while this commit's deletes are in SQLite.
    const deletes = this.deleting;
    if (deletes.size > 0) this.deleting = new Map();
    const sweep = this.sweepDue;
    this.sweepDue = false;
    if (inserts.length === 0 && deletes.size === 0 && !sweep) return;
    // The inbox's records of this turn go in first: a reply committed here may leave at once, and the record of
    // the request it answers must not be younger than it (a crash in between would apply a redelivery twice).
    if (inserts.length > 0) store.runBeforeCommit();

    const run: Run = { rows: this.rows, bytes: this.bytes };
    let seq = this.nextSeq;
    const drops: Drop[] = [];
    let accepted: PendingInsert[] = [];
    const refused: Array<[PendingInsert, OutboxFullError]> = [];
    const now = this.c.now();
    const from = this.c.hooks.firstUnsent();
    let swept = false;
    const sweepExpired = () => {
      swept = true;
      for (const r of table.sweepExpired(now, from)) {
        run.rows--;
        run.bytes -= r.size;
        drops.push({ summary: r, reason: 'expired' });
      }
    };
    try {
      this.commit(() => {
        // Deletes first: the space they free is what the inserts below may need.
        if (deletes.size > 0) this.deleteRuns(deletes, run);
        if (sweep) sweepExpired();
        let bytes = 0;
        for (const p of inserts) bytes += p.size;
        if (run.rows + inserts.length <= opts.maxRows && run.bytes + bytes <= opts.maxBytes) {
          // Everything fits: no bound decisions, bulk statements.
          for (const p of inserts) p.seq = seq++;
          table.insertMany(inserts, 0, inserts.length);
          accepted = inserts;
          run.rows += inserts.length;
          run.bytes += bytes;
          return;
        }
        accepted = [];
        for (const p of inserts) {
          const err = this.makeRoom(p.size, run, from, swept ? undefined : sweepExpired, drops);
          if (err) {
            refused.push([p, err]);
            continue;
          }
          p.seq = seq++;
          table.insert(p);
          accepted.push(p);
          run.rows++;
          run.bytes += p.size;
        }
      });
    } catch (e) {
      this.failBatch(inserts, deletes, e);
      return;
    }
    const counters = this.c.counters;
    counters.commits++;
    counters.maxBatch = Math.max(counters.maxBatch, inserts.length + deletes.size);
    this.rows = run.rows;
    this.bytes = run.bytes;
    const committedBefore = this.nextSeq - 1;
    this.nextSeq = seq;
    // The receipt exists from the commit on, so a drop before the fsync returns can still reject it.
    for (const p of accepted) this.c.receipts.expect(p.seq, p.acked);
    for (const [p, err] of refused) {
      counters.rejected.full++;
      this.c.log.warn({ topic: p.topic, messageClass: p.cls, limit: err.limit, max: err.max }, err.message);
      p.durable.reject(err);
    }
    // Drops first: with synchronous 'normal' the batch settles (and may be sent) inside syncLater.
    for (const d of drops) this.c.hooks.drop(d);
    if (accepted.length > 0) {
      // Committed rows may be sent now; their publishers hear "durable" when the fsync returns. A message sent
      // before its fsync and lost in a power cut was never reported stored, so no promise is broken.
      const batch = accepted;
      this.c.hooks.committed(batch, committedBefore);
      this.syncing.add(batch);
      store.syncLater((err) => this.settleDurable(batch, err));
    }
    if (this.pending.length > 0) this.schedule();
    this.c.hooks.afterCommit();
  }

  /**
   * Deletes acknowledged and dropped rows, one statement per run of consecutive sequences (PUBACKs mostly arrive
   * in order, so a batch is usually one range). Every row in `deleting` is still stored; if a count disagrees the
   * totals are re-read so the bounds stay exact.
   */
  private deleteRuns(deletes: ReadonlyMap<number, number>, run: Run): void {
    const seqs = Array.from(deletes.keys());
    if (seqs.length > 1) seqs.sort((a, b) => a - b);
    let consistent = true;
    for (let i = 0; i < seqs.length; ) {
      const first = seqs[i] as number;
      let bytes = deletes.get(first) ?? 0;
      let j = i;
      while (j + 1 < seqs.length && seqs[j + 1] === (seqs[j] as number) + 1) {
        j++;
        bytes += deletes.get(seqs[j] as number) ?? 0;
      }
      const gone = this.c.table.deleteRange(first, seqs[j] as number);
      if (gone !== j - i + 1) consistent = false;
      run.rows -= gone;
      run.bytes -= bytes;
      i = j + 1;
    }
    if (!consistent) {
      this.c.log.warn({ deletes: deletes.size }, 'outbox delete count differs from what was expected; re-reading totals');
      const t = this.c.table.totals();
      run.rows = t.rows;
      run.bytes = t.bytes;
    }
  }

  /** The WAL fsync covering `batch` returned: its publishes resolve (or learn the fsync failed). */
  private settleDurable(batch: PendingInsert[], err: Error | undefined): void {
    if (!this.syncing.delete(batch)) return;
    if (err) this.c.log.error({ err: err.message, messages: batch.length }, 'fsync of the outbox WAL failed; the messages stay queued but were not reported durable');
    for (const p of batch) {
      if (err) {
        this.c.counters.rejected.storage++;
        p.durable.reject(new OutboxStorageError('syncing the WAL to disk', undefined, err));
        continue;
      }
      this.c.counters.accepted++;
      p.durable.resolve({ acked: p.acked.promise });
    }
  }

  /**
   * Makes room for one more row of `size` bytes inside the running transaction: first by sweeping expired rows
   * (once per commit), then, under `dropOldestOf`, by deleting the oldest unsent rows (`seq >= from`) of those
   * classes, even ones inserted earlier in this batch: the result is the same as committing one message at a time.
   * Updates `run`; returns the refusal if there is still no room.
   */
  private makeRoom(size: number, run: Run, from: number, sweep: (() => void) | undefined, drops: Drop[]): OutboxFullError | undefined {
    const opts = this.c.opts;
    const over = (): 'maxRows' | 'maxBytes' | undefined =>
      run.rows + 1 > opts.maxRows ? 'maxRows' : run.bytes + size > opts.maxBytes ? 'maxBytes' : undefined;
    if (over() === undefined) return undefined;
    sweep?.();
    const policy = opts.overflow;
    if (policy !== 'reject') {
      while (over() !== undefined) {
        let oldest: RowSummary | undefined;
        for (const cls of policy.dropOldestOf) {
          const r = this.c.table.oldestOf(cls, from);
          if (r && (!oldest || r.seq < oldest.seq)) oldest = r;
        }
        if (!oldest) break;
        this.c.table.delete(oldest.seq);
        run.rows--;
        run.bytes -= oldest.size;
        drops.push({ summary: oldest, reason: 'evicted' });
      }
    }
    const limit = over();
    if (limit === undefined) return undefined;
    return new OutboxFullError(limit, opts[limit], limit === 'maxRows' ? run.rows + 1 : run.bytes + size, describePolicy(policy));
  }

  /** The transaction failed and was rolled back: refuse its inserts, keep its deletes for a retry on their own. */
  private failBatch(inserts: PendingInsert[], deletes: Map<number, number>, e: unknown): void {
    const code = sqliteCode(e);
    const full = code === 'SQLITE_FULL';
    const counters = this.c.counters;
    for (const p of inserts) {
      if (full) counters.rejected.diskFull++;
      else counters.rejected.storage++;
      p.durable.reject(full ? new OutboxDiskFullError(this.c.store.file, e) : new OutboxStorageError('committing a batch', code, e));
    }
    this.c.log.error({ err: errorMessage(e), sqliteCode: code, inserts: inserts.length, deletes: deletes.size }, 'outbox commit failed; publishes in it were refused');
    if (deletes.size > 0) {
      // A delete needs no new pages, so it usually succeeds where inserts hit SQLITE_FULL.
      try {
        const run: Run = { rows: this.rows, bytes: this.bytes };
        this.commit(() => this.deleteRuns(deletes, run));
        this.rows = run.rows;
        this.bytes = run.bytes;
        counters.commits++;
      } catch (e2) {
        for (const [s, size] of deletes) this.deleting.set(s, size);
        this.c.log.error({ err: errorMessage(e2), sqliteCode: sqliteCode(e2) }, 'outbox delete of acknowledged messages failed; retrying in 1 s');
        // Not at once: a broken disk would otherwise turn this into a busy loop.
        if (!this.retryTimer) {
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            this.schedule();
          }, 1000);
          this.retryTimer.unref();
        }
      }
    }
    if (this.pending.length > 0) this.schedule();
    this.c.hooks.afterCommit();
  }
}
