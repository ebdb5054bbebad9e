/**
 * The plugins' key-value state (`ctx.state`, handlers/api/state.ts) as a table of the agent's SQLite file.
 *
 * Writes are buffered for the rest of the loop turn and committed in one transaction, at the end of the turn or,
 * earlier, right before the outbox's next commit (`AgentDb.onBeforeCommit`, as the inbox does); a writer hears
 * "durable" from the WAL fsync that the turn's commits share (`AgentDb.syncLater`). So a property set costs a few
 * rows in a transaction that runs anyway and no fsync of its own, and its promise resolves only once it is on
 * disk: the property store's `apply` awaits it, and the router sends the 200 after that (the rule "a 200 reply
 * means the new state is durable", handlers/README.md).
 */
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { StateError } from '../../handlers/api';
import type { AgentDb } from './db';
import { errorMessage, sqliteCode, storageFailure } from './errors';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS plugin_state (
  plugin TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (plugin, key)
) WITHOUT ROWID;
`;

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

/** One buffered change: the JSON text to store, or null to delete. */
type Change = string | null;

/** The `plugin_state` table of one agent database. */
export class StateTable {
  private readonly loadStmt: Database.Statement<[string], { key: string; value: string }>;
  private readonly tx: (batch: Map<string, Map<string, Change>>) => void;
  /** Changes of this loop turn by plugin, then key; the last change of a key wins. */
  private buffered = new Map<string, Map<string, Change>>();
  private waiters: Waiter[] = [];
  private flushHandle: NodeJS.Immediate | undefined;
  private readonly unregister: () => void;
  private closed = false;

  constructor(
    private readonly store: AgentDb,
    private readonly log?: Logger,
  ) {
    const db = store.db;
    try {
      db.exec(SCHEMA);
      this.loadStmt = db.prepare('SELECT key, value FROM plugin_state WHERE plugin = ?');
      const upsert = db.prepare<[string, string, string]>('INSERT INTO plugin_state (plugin, key, value) VALUES (?, ?, ?) ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value');
      const remove = db.prepare<[string, string]>('DELETE FROM plugin_state WHERE plugin = ? AND key = ?');
      this.tx = db.transaction((batch: Map<string, Map<string, Change>>) => {
        for (const [plugin, changes] of batch) {
          for (const [key, value] of changes) {
            if (value === null) remove.run(plugin, key);
            else upsert.run(plugin, key, value);
          }
        }
      });
    } catch (e) {
      throw storageFailure(`preparing the plugin_state table in ${store.file}`, e);
    }
    this.unregister = store.onBeforeCommit(this.flush);
  }

  /** Whether a resolved write survives a power cut (`full`) or only a crash of the process (`normal`). */
  get durability(): AgentDb['durability'] {
    return this.store.durability;
  }

  /** Every stored key of `plugin` with its JSON text, including the changes not committed yet. */
  load(plugin: string): Map<string, string> {
    const out = new Map<string, string>();
    for (const row of this.loadStmt.all(plugin)) out.set(row.key, row.value);
    for (const [key, value] of this.buffered.get(plugin) ?? []) {
      if (value === null) out.delete(key);
      else out.set(key, value);
    }
    return out;
  }

  /**
   * Buffers `changes` of `plugin` for this turn's commit; resolves once the fsync covering it returned. Rejects
   * with a `StorageError` (`STORAGE_FAILED`, `STORAGE_DISK_FULL`) when the commit or the fsync failed, and with
   * a `StateError` (`PLUGIN_STATE_CLOSED`) after `close()`.
   */
  write(plugin: string, changes: Iterable<[string, Change]>): Promise<void> {
    if (this.closed) return Promise.reject(new StateError('PLUGIN_STATE_CLOSED', `plugin "${plugin}" state: written after the agent closed its stores`));
    let mine = this.buffered.get(plugin);
    if (!mine) this.buffered.set(plugin, (mine = new Map()));
    for (const [key, value] of changes) {
      // Re-inserted so that the last change is the one committed.
      mine.delete(key);
      mine.set(key, value);
    }
    this.flushHandle ??= setImmediate(this.flush);
    return new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Commits the buffered changes now and asks for the shared fsync. */
  readonly flush = (): void => {
    if (this.flushHandle) clearImmediate(this.flushHandle);
    this.flushHandle = undefined;
    if (this.waiters.length === 0 || this.closed) return;
    const batch = this.buffered;
    const waiters = this.waiters;
    this.buffered = new Map();
    this.waiters = [];
    try {
      this.tx(batch);
    } catch (e) {
      const err = storageFailure(`committing plugin state (${countChanges(batch)} changes)`, e);
      this.log?.error({ err: errorMessage(e), sqliteCode: sqliteCode(e) }, 'plugin state not stored');
      for (const w of waiters) w.reject(err);
      return;
    }
    this.store.syncLater((err) => {
      if (!err) {
        for (const w of waiters) w.resolve();
        return;
      }
      const failed = storageFailure('syncing plugin state', err);
      this.log?.error({ err: err.message }, 'fsync of plugin state failed');
      for (const w of waiters) w.reject(failed);
    });
  };

  /** Commits what is buffered (its fsync follows with the database's close) and stops taking writes. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.unregister();
    this.closed = true;
  }
}

function countChanges(batch: Map<string, Map<string, Change>>): number {
  let n = 0;
  for (const m of batch.values()) n += m.size;
  return n;
}
