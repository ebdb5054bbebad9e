/**
 * The inbox: remembers the reply sent for each downstream request (property set, service call) by Alink message id,
 * so a request the platform delivers again after a reconnect is answered the same way and not applied twice.
 * It is the SQLite implementation of `ReplyCache`; the router calls `get(key)` before handling and
 * `put(key, reply)` after.
 *
 * The records of one loop turn are committed together, in one transaction, at the end of the turn or, earlier,
 * right before the outbox's next commit (AgentDb.onBeforeCommit): the reply to a request leaves only after its
 * outbox commit, so the record of the request is in the file before its reply is on the wire. A commit per
 * request (four statements and WAL pages for two indexes each time) cost more CPU than the rest of a property set.
 * Until then `get` answers from the records still buffered.
 *
 * The record is advisory and made durable lazily: the commit asks for a grouped WAL fsync on libuv's thread pool
 * (the one the outbox uses) instead of blocking the event loop on an fsync per request, which capped an agent at
 * ~1,000 property sets/s. A power cut (or an OS crash) after the reply and before that fsync loses the record,
 * and a redelivered request is then applied again, the same as when the agent dies before `put`; a crash of the
 * process alone loses nothing, since the commit is in the WAL. Applying again is safe because of the plugin API's
 * contract: a handler resolves only once its new state is durable, and `put` runs after that, so a redelivery
 * either finds the record (answered: not applied again) or applies the same values once more.
 */
import type Database from 'better-sqlite3';
import pino, { type Logger } from 'pino';
import type { ReplyCache, StoredReply } from '../transport';
import { openAgentDb, type AgentDb, type RecoveredFile, type SyncMode } from '../storage/db';
import { errorMessage, sqliteCode } from '../storage/errors';
import { InboxClosedError, InboxConfigError, InboxStorageError } from './errors';

/** Options of {@link Inbox.open}. Give `file` (the inbox owns the handle) or `db` (shared with the outbox). */
export interface InboxOptions {
  /** SQLite file; usually the outbox's, shared through `db` instead. */
  file?: string;
  /** An open handle from `openAgentDb` (shared with the outbox); the inbox does not close it. */
  db?: AgentDb;
  /** How long a reply is remembered. Default 24 h, the platform's message-id uniqueness window. */
  windowMs?: number;
  /** Most replies remembered; the oldest go first. Default 10000. */
  maxEntries?: number;
  /** When `file` is given. Default `full`. */
  synchronous?: SyncMode;
  logger?: Logger;
  /** Clock in epoch ms (tests). */
  now?: () => number;
}

/** Counters of one inbox. */
export interface InboxStats {
  size: number;
  hits: number;
  misses: number;
  stored: number;
  /** Replies forgotten because they left the window or the bound. */
  expired: number;
  evicted: number;
  /** SQLite failures; each was logged and treated as a miss or an unsaved reply. */
  errors: number;
  recovered?: RecoveredFile;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS inbox (
  key TEXT PRIMARY KEY,
  topic TEXT NOT NULL,
  payload TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_at ON inbox (at);
`;

/** A record, as the table holds it and as it waits in the buffer. */
interface Row {
  topic: string;
  payload: string;
  at: number;
}

const NOOP_LOGGER = pino({ level: 'silent' });
const EXPIRE_EVERY_MS = 1000;

function positiveInt(key: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new InboxConfigError(key, 'a positive integer', v);
  return v;
}

/** Persistent, bounded de-duplication of downstream requests by key (`set:<id>`, `service:<name>:<id>`...). */
export class Inbox implements ReplyCache {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly getStmt: Database.Statement<[string], Row>;
  private readonly insertStmt: Database.Statement<[string, string, string, number]>;
  private readonly updateStmt: Database.Statement<[string, string, number, string]>;
  private readonly countStmt: Database.Statement<[], { n: number }>;
  private readonly keysStmt: Database.Statement<[], { key: string }>;
  private readonly expireStmt: Database.Statement<[number], { key: string }>;
  private readonly evictStmt: Database.Statement<[number], { key: string }>;
  /**
   * Every key the table may hold (a superset: a rolled-back insert leaves its key here). Nearly every request is
   * new, and a SELECT per request to learn that cost ~8% of a durable agent's CPU per property set.
   */
  private readonly keys = new Set<string>();
  private keysKnown = true;
  /** When expired replies were last deleted; `get` checks the window itself, so once a second is enough. */
  private expiredAt = -Infinity;
  private readonly putTx: (batch: Map<string, Row>) => void;
  private count: number;
  /** Records of this loop turn, not yet committed; insertion order is the order of their `at`. */
  private buffered = new Map<string, Row>();
  private flushHandle: NodeJS.Immediate | undefined;
  private readonly unregister: () => void;
  private closed = false;
  private readonly counters = { hits: 0, misses: 0, stored: 0, expired: 0, evicted: 0, errors: 0 };

  /** One callback for every put: a failed fsync is logged once per batch, not thrown at anyone. */
  private readonly onSynced = (err?: Error): void => {
    if (!err) return;
    this.counters.errors++;
    this.log.error({ err: err.message }, 'fsync of the inbox WAL failed; replies stored since the last one may be forgotten after a power cut');
  };

  private constructor(
    private readonly store: AgentDb,
    private readonly ownsDb: boolean,
    private readonly windowMs: number,
    private readonly maxEntries: number,
    options: InboxOptions,
  ) {
    const db = store.db;
    this.log = (options.logger ?? NOOP_LOGGER).child({ component: 'inbox' });
    this.now = options.now ?? Date.now;
    db.exec(SCHEMA);
    this.getStmt = db.prepare('SELECT topic, payload, at FROM inbox WHERE key = ?');
    // A new key (the usual case) is one statement; a repeated one, a second. The rowid, which eviction orders by,
    // stays the first insert's either way.
    this.insertStmt = db.prepare('INSERT INTO inbox (key, topic, payload, at) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO NOTHING');
    this.updateStmt = db.prepare('UPDATE inbox SET topic = ?, payload = ?, at = ? WHERE key = ?');
    this.countStmt = db.prepare('SELECT count(*) AS n FROM inbox');
    this.keysStmt = db.prepare('SELECT key FROM inbox');
    this.expireStmt = db.prepare('DELETE FROM inbox WHERE at <= ? RETURNING key');
    this.evictStmt = db.prepare('DELETE FROM inbox WHERE rowid IN (SELECT rowid FROM inbox ORDER BY at, rowid LIMIT ?) RETURNING key');
    this.count = (this.countStmt.get() as { n: number }).n;
    for (const { key } of this.keysStmt.iterate()) this.keys.add(key);
    this.putTx = db.transaction((batch: Map<string, Row>) => {
      for (const [key, { topic, payload, at }] of batch) {
        if (this.insertStmt.run(key, topic, payload, at).changes === 1) {
          this.count++;
          this.keys.add(key);
        } else this.updateStmt.run(topic, payload, at, key);
      }
      const now = this.now();
      if (now - this.expiredAt >= EXPIRE_EVERY_MS) {
        this.expiredAt = now;
        const expired = this.forget(this.expireStmt.all(now - this.windowMs));
        this.count -= expired;
        this.counters.expired += expired;
      }
      if (this.count > this.maxEntries) {
        const evicted = this.forget(this.evictStmt.all(this.count - this.maxEntries));
        this.count -= evicted;
        this.counters.evicted += evicted;
      }
    });
    this.unregister = store.onBeforeCommit(this.flush);
  }

  /** Drops deleted rows' keys from {@link Inbox.keys}; returns how many. */
  private forget(rows: { key: string }[]): number {
    for (const { key } of rows) this.keys.delete(key);
    return rows.length;
  }

  /** Opens the inbox table in `db` or `file`. Throws {@link InboxConfigError}, {@link InboxStorageError}, or the storage module's `STORAGE_*` errors when it opens `file`. */
  static open(options: InboxOptions): Inbox {
    if (options.db === undefined && (typeof options.file !== 'string' || options.file === '')) {
      throw new InboxConfigError('file', 'a path (or a db handle in db)', options.file);
    }
    const windowMs = positiveInt('windowMs', options.windowMs, 24 * 60 * 60 * 1000);
    const maxEntries = positiveInt('maxEntries', options.maxEntries, 10_000);
    const owns = options.db === undefined;
    const store = options.db ?? openAgentDb({ file: options.file as string, synchronous: options.synchronous, logger: options.logger?.child({ component: 'inbox' }) });
    try {
      return new Inbox(store, owns, windowMs, maxEntries, options);
    } catch (e) {
      if (owns) store.close();
      throw new InboxStorageError(`preparing the inbox table in ${store.file}`, sqliteCode(e), e);
    }
  }

  /**
   * The reply stored for `key` within the window, or undefined. A storage failure is logged and counts as a
   * miss, so the request is handled rather than lost.
   */
  get(key: string): StoredReply | undefined {
    if (this.closed) throw new InboxClosedError(`inbox get(${key}) after close()`);
    try {
      const row = this.buffered.get(key) ?? (!this.keysKnown || this.keys.has(key) ? this.getStmt.get(key) : undefined);
      if (row && row.at > this.now() - this.windowMs) {
        this.counters.hits++;
        return { topic: row.topic, payload: row.payload };
      }
    } catch (e) {
      this.counters.errors++;
      this.log.error({ key, err: errorMessage(e), sqliteCode: sqliteCode(e) }, 'inbox read failed; handling the request as new');
    }
    this.counters.misses++;
    return undefined;
  }

  /**
   * Remembers the reply for `key`: buffered now, committed with the others of this loop turn (see the file
   * comment), and then replies older than the window and the oldest beyond `maxEntries` are forgotten. A storage
   * failure is logged, not thrown: the reply must still go out, and the worst case is handling a redelivered request
   * again.
   */
  put(key: string, reply: StoredReply): void {
    if (this.closed) throw new InboxClosedError(`inbox put(${key}) after close()`);
    // Re-inserted so that the map's order stays the order of `at`.
    this.buffered.delete(key);
    this.buffered.set(key, { topic: reply.topic, payload: reply.payload, at: this.now() });
    this.flushHandle ??= setImmediate(this.flush);
  }

  /** Commits the buffered records now (the counts of {@link Inbox.size} and {@link Inbox.stats} include them). */
  readonly flush = (): void => {
    if (this.flushHandle) clearImmediate(this.flushHandle);
    this.flushHandle = undefined;
    if (this.buffered.size === 0 || this.closed) return;
    const batch = this.buffered;
    this.buffered = new Map();
    try {
      this.putTx(batch);
      this.counters.stored += batch.size;
      // Shares the fsync of the outbox's commits; nobody waits for it.
      this.store.syncLater(this.onSynced);
    } catch (e) {
      this.counters.errors++;
      try {
        // The rollback undid the row changes the in-memory count had already followed.
        this.count = (this.countStmt.get() as { n: number }).n;
      } catch {
        // Keep the old count; the next successful commit corrects it by at most the bound.
      }
      // The key set must never lack a key the table holds: rebuilt, or no longer trusted.
      try {
        this.keys.clear();
        for (const { key } of this.keysStmt.iterate()) this.keys.add(key);
      } catch {
        this.keysKnown = false;
      }
      const keys = [...batch.keys()];
      this.log.error(
        { keys: keys.length > 10 ? [...keys.slice(0, 10), `... ${keys.length - 10} more`] : keys, err: errorMessage(e), sqliteCode: sqliteCode(e) },
        `inbox could not store ${batch.size} repl${batch.size === 1 ? 'y' : 'ies'}; a redelivery would be handled again`,
      );
    }
  };

  /** Replies currently remembered (including any past the window not yet pruned). */
  size(): number {
    this.flush();
    return this.count;
  }

  stats(): InboxStats {
    this.flush();
    return { size: this.count, ...this.counters, ...(this.store.recovered ? { recovered: { ...this.store.recovered } } : {}) };
  }

  /** Closes the file if the inbox opened it, after making what it stored durable. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.unregister();
    this.closed = true;
    try {
      // Also on a shared handle: the outbox may have closed (and synced) before the last records were committed.
      this.store.syncNow();
    } catch (e) {
      this.log.error({ err: errorMessage(e) }, 'fsync of the inbox WAL at close failed');
    }
    if (this.ownsDb) this.store.close();
  }
}
