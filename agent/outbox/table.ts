/**
 * The `outbox` table and its prepared statements. Rows are keyed by `seq`, the order the agent accepted them in;
 * the primary key is the index the replay walks, a page at a time.
 */
import type Database from 'better-sqlite3';

/** One stored message, as read back for sending. */
export interface OutboxRow {
  seq: number;
  topic: string;
  payload: Buffer;
  /** MQTT 5 properties as JSON (see `properties.ts`), or null. */
  props: string | null;
  cls: string;
  size: number;
  created_at: number;
  /** Epoch ms after which the message is dropped instead of sent; null = never. */
  expires_at: number | null;
}

/** What a drop needs to know about a row. */
export interface RowSummary {
  seq: number;
  topic: string;
  cls: string;
  size: number;
  created_at: number;
}

/** Rows per multi-row INSERT: one statement step instead of 16 amortises better-sqlite3's per-call cost. */
export const INSERT_CHUNK = 16;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY,
  topic TEXT NOT NULL,
  payload BLOB NOT NULL,
  props TEXT,
  cls TEXT NOT NULL,
  size INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_expiry ON outbox (expires_at) WHERE expires_at IS NOT NULL;
`;

const COLUMNS = '(seq, topic, payload, props, cls, size, created_at, expires_at)';
const VALUES = '(?, ?, ?, ?, ?, ?, ?, ?)';

/**
 * Prepared statements over the `outbox` table of one database handle. The `(cls, seq)` index that finds the oldest
 * row of a class exists only when the overflow policy drops by class: every insert and delete pays for it.
 */
export class OutboxTable {
  private readonly insertStmt: Database.Statement<unknown[]>;
  private readonly insertChunkStmt: Database.Statement<unknown[]>;
  private readonly deleteStmt: Database.Statement<[number]>;
  private readonly deleteRangeStmt: Database.Statement<[number, number]>;
  private readonly pageStmt: Database.Statement<[number, number, number], OutboxRow>;
  private readonly oldestOfStmt: Database.Statement<[string, number], RowSummary>;
  private readonly sweepStmt: Database.Statement<[number, number], RowSummary>;
  private readonly totalsStmt: Database.Statement<[], { rows: number; bytes: number; minSeq: number | null; maxSeq: number | null }>;

  constructor(
    readonly db: Database.Database,
    classIndex: boolean,
  ) {
    db.exec(SCHEMA);
    db.exec(classIndex ? 'CREATE INDEX IF NOT EXISTS outbox_cls_seq ON outbox (cls, seq)' : 'DROP INDEX IF EXISTS outbox_cls_seq');
    this.insertStmt = db.prepare(`INSERT INTO outbox ${COLUMNS} VALUES ${VALUES}`);
    this.insertChunkStmt = db.prepare(`INSERT INTO outbox ${COLUMNS} VALUES ${Array(INSERT_CHUNK).fill(VALUES).join(', ')}`);
    this.deleteStmt = db.prepare('DELETE FROM outbox WHERE seq = ?');
    this.deleteRangeStmt = db.prepare('DELETE FROM outbox WHERE seq >= ? AND seq <= ?');
    this.pageStmt = db.prepare('SELECT * FROM outbox WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?');
    // One class at a time so the (cls, seq) index, when present, answers in order without sorting.
    this.oldestOfStmt = db.prepare(
      'SELECT seq, topic, cls, size, created_at FROM outbox WHERE cls = ? AND seq >= ? ORDER BY seq LIMIT 1',
    );
    this.sweepStmt = db.prepare(
      'DELETE FROM outbox WHERE expires_at IS NOT NULL AND expires_at <= ? AND seq >= ? RETURNING seq, topic, cls, size, created_at',
    );
    this.totalsStmt = db.prepare(
      'SELECT count(*) AS rows, coalesce(sum(size), 0) AS bytes, min(seq) AS minSeq, max(seq) AS maxSeq FROM outbox',
    );
  }

  insert(r: OutboxRow): void {
    this.insertStmt.run(r.seq, r.topic, r.payload, r.props, r.cls, r.size, r.created_at, r.expires_at);
  }

  /** Inserts `rows[from]` up to (not including) `to`, {@link INSERT_CHUNK} rows per statement where possible. */
  insertMany(rows: readonly OutboxRow[], from: number, to: number): void {
    let i = from;
    for (; i + INSERT_CHUNK <= to; i += INSERT_CHUNK) {
      const args: unknown[] = [];
      for (let k = i; k < i + INSERT_CHUNK; k++) {
        const r = rows[k] as OutboxRow;
        args.push(r.seq, r.topic, r.payload, r.props, r.cls, r.size, r.created_at, r.expires_at);
      }
      this.insertChunkStmt.run(args);
    }
    for (; i < to; i++) this.insert(rows[i] as OutboxRow);
  }

  delete(seq: number): boolean {
    return this.deleteStmt.run(seq).changes > 0;
  }

  /** Deletes `from <= seq <= to`; returns how many rows went. */
  deleteRange(from: number, to: number): number {
    return from === to ? this.deleteStmt.run(from).changes : this.deleteRangeStmt.run(from, to).changes;
  }

  /** Up to `limit` rows with `from <= seq <= to`, in order. */
  page(from: number, to: number, limit: number): OutboxRow[] {
    return this.pageStmt.all(from, to, limit);
  }

  /** The oldest row of `cls` with `seq >= from`. */
  oldestOf(cls: string, from: number): RowSummary | undefined {
    return this.oldestOfStmt.get(cls, from);
  }

  /** Deletes rows with `seq >= from` that expired at or before `now`, returning them. */
  sweepExpired(now: number, from: number): RowSummary[] {
    return this.sweepStmt.all(now, from);
  }

  totals(): { rows: number; bytes: number; minSeq: number | null; maxSeq: number | null } {
    const t = this.totalsStmt.get();
    return t ?? { rows: 0, bytes: 0, minSeq: null, maxSeq: null };
  }
}
