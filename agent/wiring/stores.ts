/**
 * The agent's default stores: one SQLite file, `{dataDir}/agent.db`, shared by the durable outbox (under the
 * session's QoS 1 publishes), the inbox (the router's reply cache), as agent/outbox/README.md lays out, and the
 * plugins' `ctx.state` (the `plugin_state` table), all three in one group commit and one WAL fsync per turn.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { AgentConfig } from '../config/load';
import { AGENT_DB_FILE } from '../config/schema';
import { Inbox } from '../inbox';
import { Outbox, type AgedPolicy, type DropInfo } from '../outbox';
import { openAgentDb, type AgentDb } from '../storage';
import { StateTable } from '../storage/state-table';
import type { DurableUplink } from '../session/session';
import type { ReplyCache } from '../transport';
import { SqliteOtaStore, type OtaStore } from '../ota/store';
import { SqliteSubDeviceStore, type SubDeviceStore } from '../gateway/sessions/store';

/** What the outbox holds right now, for metrics and the STATUS= line. */
export interface OutboxDepth {
  rows: number;
  bytes: number;
}

/** The stores an agent opens; `close` belongs at the very end of `stop()`, after the connection is closed. */
export interface AgentStores {
  durable?: DurableUplink;
  replyCache?: ReplyCache;
  /** Where the plugins' `ctx.state` lives; absent: in-memory maps (values gone on restart). */
  state?: StateTable;
  /** OTA jobs and download offsets (agent/ota/store.ts); absent: kept in memory, a restart starts over. */
  ota?: OtaStore;
  /** Sub-devices added at run time, registered secrets, topology (agent/gateway/sessions/store.ts); absent: in memory. */
  subDevices?: SubDeviceStore;
  /** The outbox's current depth; absent when there is no outbox. */
  depth?(): OutboxDepth;
  close?(): void | Promise<void>;
}

export interface DefaultStoresOptions {
  /** Every message the outbox gives up on (expired, evicted, refused by the broker). */
  onDrop?: (info: DropInfo) => void;
  /** Posts that waited past the platform's window (agent/upstream/history.ts). */
  aged?: AgedPolicy;
}

/**
 * Opens `{dataDir}/agent.db` (creating the folder), the outbox on it with the `outbox` section's bounds, and the
 * inbox and the plugin state table on the same handle. Throws the storage module's `STORAGE_*`, the outbox's `OUTBOX_*` or the inbox's `INBOX_*` errors; nothing
 * stays open then.
 */
export function openDefaultStores(config: AgentConfig, logger: Logger, opts: DefaultStoresOptions = {}): AgentStores & { outbox: Outbox; inbox: Inbox; state: StateTable; ota: OtaStore; subDevices: SubDeviceStore } {
  const o = config.outbox;
  const file = join(config.dataDir, AGENT_DB_FILE);
  const db: AgentDb = openAgentDb({ file, synchronous: o.synchronous, logger: logger.child({ component: 'agent-db' }) });
  let outbox: Outbox | undefined;
  try {
    outbox = Outbox.open({
      db,
      maxRows: o.maxRows,
      maxBytes: o.maxBytes,
      overflow: o.overflow === 'reject' ? 'reject' : { dropOldestOf: o.overflow.dropOldestOf },
      ttlMs: o.ttlMs,
      maxInflight: o.maxInflight,
      logger,
      ...(opts.onDrop ? { onDrop: opts.onDrop } : {}),
      ...(opts.aged ? { aged: opts.aged } : {}),
    });
    const inbox = Inbox.open({ db, logger });
    const state = new StateTable(db, logger.child({ component: 'plugin-state' }));
    const ota = new SqliteOtaStore(db);
    const subDevices = new SqliteSubDeviceStore(db);
    const box = outbox;
    return {
      outbox,
      inbox,
      state,
      ota,
      subDevices,
      durable: outbox,
      replyCache: inbox,
      depth: () => {
        const s = box.stats();
        return { rows: s.depth, bytes: s.bytes };
      },
      close: () => {
        // The outbox first: it commits what is pending through the handle the inbox shares.
        box.close();
        inbox.close();
        state.close();
        db.close();
      },
    };
  } catch (err) {
    outbox?.close();
    db.close();
    throw err;
  }
}
