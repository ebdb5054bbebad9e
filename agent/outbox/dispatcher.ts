/**
 * The outbox's dispatcher: hands committed rows to MQTT.js in sequence order, only while connected and at most a
 * window at a time (the outbox's `maxInflight`, capped by the broker's Receive Maximum); hears each one's PUBACK (its
 * delete then joins the next group commit) and rewinds to the oldest unacknowledged row when the connection or the
 * client goes away. A backlog is read from SQLite a page at a time; rows just committed come from the hot range kept
 * in memory since their commit.
 */
import { ErrorWithReasonCode, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { errorMessage, sqliteCode } from './errors';
import type { GroupCommit, PendingInsert } from './group-commit';
import { decodeProperties } from './properties';
import type { Drop, OutboxCounters, Receipts } from './receipts';
import type { AgedPolicy } from './options';
import { RecentAcks } from './recent-acks';
import type { OutboxRow, OutboxTable } from './table';

// MQTT.js copies its options; one shared object saves an allocation per message.
const QOS1 = Object.freeze({ qos: 1 as const });

/** Most rows the hot range keeps in memory. */
export const HOT_MAX = 8192;

/** How often one row may be refused and taken back by the hold before the refusal counts as final. */
export const REFUSALS_MAX = 3;

interface Inflight {
  token: number;
  summary: OutboxRow;
}

export interface DispatcherContext {
  table: OutboxTable;
  commit: GroupCommit;
  receipts: Receipts;
  counters: OutboxCounters;
  log: Logger;
  now: () => number;
  maxInflight: number;
  drop(d: Drop): void;
  aged?: AgedPolicy;
}

export class Dispatcher {
  /** Lowest sequence not yet handed to MQTT.js in this process. */
  cursor: number;
  /**
   * The hot range: committed rows not yet sent, kept from their commit so the dispatcher need not read back what it
   * just wrote. When `hotFrom` is not 0, `hot` holds exactly the unsent rows with `hotFrom <= seq < nextSeq`;
   * older rows (a backlog after a restart, an outage, a rewind) are read from SQLite.
   */
  private readonly hot = new Map<number, OutboxRow>();
  private hotFrom = 0;
  private readonly inflight = new Map<number, Inflight>();
  private client: MqttClient | undefined;
  private online = false;
  private window: number;
  private token = 0;
  private pumping = false;
  private closed = false;

  private readonly agedClasses: ReadonlySet<string>;
  /**
   * Rows whose topic is held (a sub-device not logged in: docs/protocol/gateway.md, "Held messages"), kept out of the
   * window until {@link release}; they stay in SQLite meanwhile.
   */
  private readonly held = new Map<number, OutboxRow>();
  private hold: ((topic: string) => boolean) | undefined;
  private onRefused: ((topic: string, reasonCode: number) => void) | undefined;
  /** Per row, the refusals the hold took back (see {@link takeBack}); empty but for a lost sub-device session. */
  private readonly refusals = new Map<number, number>();
  private releaseAsked = false;
  /** Which device an acknowledged row is kept under for {@link takeRecent} (undefined: not kept). */
  private keepKey: ((topic: string) => string | undefined) | undefined;
  private readonly recent = new RecentAcks();

  constructor(private readonly c: DispatcherContext) {
    this.cursor = c.commit.firstSeq;
    this.window = c.maxInflight;
    this.agedClasses = new Set(c.aged?.classes ?? []);
  }

  /** Messages handed to MQTT.js and awaiting PUBACK. */
  get inflightCount(): number {
    return this.inflight.size;
  }

  /** Sends through `client` (or nothing) from now on; the caller rewinds what the previous client had in flight. */
  use(client: MqttClient | undefined): void {
    this.client = client;
  }

  /** The client's connection is up (after MQTT.js's own re-send); `receiveMaximum` from its CONNACK. */
  connected(receiveMaximum: number | undefined): void {
    this.window = Math.max(1, Math.min(this.c.maxInflight, receiveMaximum ?? this.c.maxInflight));
    this.online = true;
    this.pump();
  }

  disconnected(): void {
    this.online = false;
  }

  /**
   * Which topics may not be sent now (undefined: none is held). `onRefused` hears every refusal with a reason code
   * before the dispatcher decides on it: a refusal it answers by holding the topic is not final (see {@link takeBack}).
   */
  setHold(hold: ((topic: string) => boolean) | undefined, onRefused?: (topic: string, reasonCode: number) => void): void {
    this.hold = hold;
    this.onRefused = onRefused;
    this.release();
  }

  /** What the hold says may have changed (a sub-device is online again): held rows are looked at on the next pump. */
  release(): void {
    this.releaseAsked = true;
    this.pump();
  }

  /**
   * A new connection is about to re-send the in-flight window: the packets on held topics are taken out of it
   * (`skipOnReplay` said so) and go back to the rows to send, where the hold keeps them until released.
   */
  unsendHeld(): void {
    const hold = this.hold;
    if (!hold) return;
    for (const [seq, f] of this.inflight) {
      if (!hold(f.summary.topic)) continue;
      this.inflight.delete(seq);
      this.cursor = Math.min(this.cursor, seq);
    }
  }

  /** Keeps acknowledged rows for a moment under the key `keyOf` gives their topic (see recent-acks.ts). */
  keepAcked(keyOf: ((topic: string) => string | undefined) | undefined): void {
    this.keepKey = keyOf;
  }

  /** Takes the rows acknowledged under `key` within the last moments, oldest first (to be queued again). */
  takeRecent(key: string): OutboxRow[] {
    return this.recent.take(key, this.c.now());
  }

  private keepRecent(row: OutboxRow): void {
    const key = this.keepKey?.(row.topic);
    if (key !== undefined) this.recent.add(key, row, this.c.now());
  }

  /** True when a re-sent packet on `topic` would be refused now. */
  holds(topic: string): boolean {
    return this.hold?.(topic) === true;
  }

  /** Sends nothing more and ignores the callbacks of what was sent. */
  close(): void {
    this.closed = true;
  }

  /**
   * Hands committed rows to MQTT.js in sequence order while connected and the window has room: first from SQLite (a
   * backlog, a page at a time), then from the hot range kept in memory since the commit.
   */
  pump(): void {
    if (!this.online || !this.client || this.closed || this.pumping) return;
    if (this.cursor >= this.c.commit.nextSeq && !(this.releaseAsked && this.held.size > 0)) return;
    this.pumping = true;
    try {
      const now = this.c.now();
      let free = this.window - this.inflight.size;
      if (this.releaseAsked) free = this.releaseHeld(now, free);
      const last = this.c.commit.nextSeq - 1;
      while (free > 0 && this.online && this.cursor <= last) {
        const dbTo = this.hotFrom !== 0 ? this.hotFrom - 1 : last;
        if (this.cursor <= dbTo) {
          const want = free;
          const page = this.c.table.page(this.cursor, dbTo, want);
          let i = 0;
          for (; i < page.length && this.online; i++) {
            const row = page[i] as OutboxRow;
            this.cursor = row.seq + 1;
            if (this.take(row, now)) free--;
          }
          // A short page means nothing else is stored below the hot range (unless a failed send just rewound).
          if (this.online && i === page.length && page.length < want) this.cursor = Math.max(this.cursor, dbTo + 1);
          continue;
        }
        for (let seq = this.cursor; seq <= last && free > 0 && this.online; seq++) {
          this.cursor = seq + 1;
          this.hotFrom = seq + 1;
          const row = this.hot.get(seq);
          if (!row) continue;
          this.hot.delete(seq);
          if (this.take(row, now)) free--;
        }
      }
    } catch (e) {
      this.c.log.error({ err: errorMessage(e), sqliteCode: sqliteCode(e) }, 'outbox could not read pending messages; retrying after the next commit');
    } finally {
      this.pumping = false;
    }
  }

  /** Adds a just-committed batch to the hot range, or gives the range up when it no longer describes the table. */
  committed(batch: PendingInsert[], committedBefore: number): void {
    const first = batch[0]?.seq;
    if (first === undefined) return;
    const contiguous = first === committedBefore + 1;
    // The range may start here only if nothing older is still waiting to be sent.
    if (this.hotFrom === 0 && !(contiguous && this.cursor > committedBefore)) return;
    if (this.hotFrom !== 0 && !contiguous) {
      this.dropHot();
      return;
    }
    if (this.hotFrom === 0) this.hotFrom = first;
    for (const p of batch) {
      // No receipt means the row was dropped (evicted in this same commit).
      if (this.c.receipts.has(p.seq)) this.hot.set(p.seq, p);
    }
    // While offline the range would grow with the backlog; past the bound SQLite is the copy to read from.
    if (this.hot.size > HOT_MAX) this.dropHot();
  }

  /** `seq` was dropped: it is neither in flight nor waiting in the hot range any more. */
  forget(seq: number): void {
    this.inflight.delete(seq);
    this.hot.delete(seq);
    this.held.delete(seq);
    this.refusals.delete(seq);
  }

  /** Held rows the hold lets go now, oldest first, within the window; the pass ends when all were looked at. */
  private releaseHeld(now: number, free: number): number {
    let left = free;
    for (const [seq, row] of this.held) {
      if (left <= 0) return left;
      if (this.hold?.(row.topic)) continue;
      this.held.delete(seq);
      if (this.take(row, now)) left--;
    }
    this.releaseAsked = false;
    return left;
  }

  /** Everything in flight is sent again, from the oldest, on the next connection. */
  rewindAll(why: string): void {
    if (this.inflight.size === 0) {
      this.online = false;
      return;
    }
    let min = this.cursor;
    for (const seq of this.inflight.keys()) min = Math.min(min, seq);
    this.c.log.info({ inflight: this.inflight.size, fromSeq: min, why }, 'in-flight messages will be sent again from the outbox');
    this.inflight.clear();
    this.cursor = min;
    this.online = false;
  }

  /**
   * Sends `row` unless it is already in flight, being deleted, expired or aged out (then dropped); a row older than
   * the aged policy's bound goes out as the policy rewrites it. True if it was sent.
   */
  private take(row: OutboxRow, now: number): boolean {
    if (this.inflight.has(row.seq) || this.c.commit.isDeleting(row.seq)) return false;
    if (row.expires_at !== null && row.expires_at <= now) {
      this.held.delete(row.seq);
      this.c.commit.remove(row.seq, row.size);
      this.c.drop({ summary: row, reason: 'expired' });
      return false;
    }
    if (this.hold?.(row.topic)) {
      this.held.set(row.seq, row);
      return false;
    }
    const aged = this.c.aged;
    if (aged !== undefined && now - row.created_at >= aged.afterMs && this.agedClasses.has(row.cls)) {
      const out = aged.rewrite({ topic: row.topic, payload: row.payload, createdAt: row.created_at });
      if (out === undefined) {
        this.c.commit.remove(row.seq, row.size);
        this.c.drop({ summary: row, reason: 'aged' });
        return false;
      }
      this.dispatch(row, out.topic, out.payload);
      return true;
    }
    this.dispatch(row, row.topic, row.payload);
    return true;
  }

  /**
   * A refusal the hold explains is not final: told of it, the hold now keeps the topic (a sub-device whose session
   * the broker no longer has, docs/protocol/gateway.md "Held messages"), so the row goes back to wait for the
   * device's next login instead of being dropped. At most {@link REFUSALS_MAX} times per row, so a topic the broker
   * refuses for good cannot go round for ever.
   */
  private takeBack(seq: number, topic: string, reasonCode: number): boolean {
    if (!this.onRefused) return false;
    this.onRefused(topic, reasonCode);
    const n = (this.refusals.get(seq) ?? 0) + 1;
    if (!this.hold?.(topic) || n > REFUSALS_MAX) {
      this.refusals.delete(seq);
      return false;
    }
    this.refusals.set(seq, n);
    this.c.log.info({ seq, topic, reasonCode, refusals: n }, 'refused message kept: it waits for its topic to be released');
    // Read back from SQLite by the next pump, where the hold keeps it.
    this.cursor = Math.min(this.cursor, seq);
    return true;
  }

  private dropHot(): void {
    this.hot.clear();
    this.hotFrom = 0;
  }

  private dispatch(row: OutboxRow, topic: string, payload: Buffer): void {
    const client = this.client as MqttClient;
    const token = ++this.token;
    const seq = row.seq;
    this.inflight.set(seq, { token, summary: row });
    const properties = row.props === null ? undefined : decodeProperties(row.props);
    client.publish(topic, payload, properties ? { qos: 1, properties } : QOS1, (err) => this.onSent(seq, token, err));
  }

  /** MQTT.js's publish callback: PUBACK (success or MQTT 5 refusal), or the packet never made it into its store. */
  private onSent(seq: number, token: number, err: Error | undefined): void {
    const f = this.inflight.get(seq);
    if (!f || f.token !== token || this.closed) return;
    this.inflight.delete(seq);
    if (!err) {
      this.c.counters.acked++;
      if (this.refusals.size !== 0) this.refusals.delete(seq);
      if (this.keepKey) this.keepRecent(f.summary);
      this.c.commit.remove(seq, f.summary.size);
      this.c.receipts.resolve(seq);
      return;
    }
    if (err instanceof ErrorWithReasonCode && typeof err.code === 'number') {
      if (this.takeBack(seq, f.summary.topic, err.code)) return;
      // Otherwise a negative PUBACK is final for this message: sending it again would be refused again.
      this.c.commit.remove(seq, f.summary.size);
      this.c.drop({ summary: f.summary, reason: 'refused', reasonCode: err.code });
      return;
    }
    // Connection closed or client disconnecting before MQTT.js stored it: send it again on the next connection.
    this.c.log.debug({ seq, err: err.message }, 'dispatch not taken by MQTT.js; will resend after reconnect');
    this.cursor = Math.min(this.cursor, seq);
    this.online = false;
  }
}
