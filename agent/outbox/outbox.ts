/**
 * The durable QoS 1 outbox: a layer in front of an MQTT.js client that implements `Uplink`.
 *
 * Path of a QoS 1 message: `publish` queues it; the next group commit writes it (with every other publish of the
 * same turn of the event loop) in one SQLite transaction; the dispatcher hands committed rows to MQTT.js in
 * sequence order, at most a window at a time; one fsync of the WAL covers the commit and the caller's promise
 * resolves after it; on PUBACK the row's delete joins the next group commit and `receipt.acked` resolves. While the
 * connection is down nothing is handed over, so rows wait in SQLite, not in MQTT.js's memory. MQTT.js re-sends its
 * in-flight window itself when the connection returns (through {@link InflightStore}); the dispatcher then
 * continues after it. Both wait for the `beforeSending` gate given to {@link Outbox.attach} (the session's
 * subscriptions), so replies to what is sent cannot arrive before their subscription.
 */
import { ErrorWithReasonCode, UniqueMessageIdProvider, type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt';
import pino, { type Logger } from 'pino';
import type { MessageClass, PublishOptions, PublishReceipt, Uplink } from '../transport';
import { openAgentDb, type AgentDb, type RecoveredFile } from './db';
import { Deferred } from './deferred';
import {
  OutboxClosedError,
  OutboxDiskFullError,
  OutboxDroppedError,
  OutboxError,
  OutboxFullError,
  OutboxInvalidMessageError,
  OutboxNotAttachedError,
  OutboxSendError,
  OutboxStorageError,
  errorMessage,
  sqliteCode,
  type DropReason,
} from './errors';
import { InflightStore } from './inflight-store';
import { describePolicy, resolveOutboxOptions, type DropInfo, type OutboxOptions, type ResolvedOutboxOptions } from './options';
import { decodeProperties, encodeProperties } from './properties';
import { OutboxTable, type OutboxRow, type RowSummary } from './table';

/** Counters and gauges of one outbox, for metrics and logs. */
export interface OutboxStats {
  /** Durable messages not yet acknowledged or dropped. */
  depth: number;
  /** Bytes those messages hold (topic + payload + properties). */
  bytes: number;
  /** Messages handed to MQTT.js and awaiting PUBACK. */
  inflight: number;
  /** QoS 1 messages made durable since open. */
  accepted: number;
  /** PUBACKs received since open. */
  acked: number;
  /** Accepted messages dropped without PUBACK, by reason. */
  dropped: Record<DropReason, number>;
  /** Publishes refused before becoming durable. */
  rejected: { full: number; diskFull: number; storage: number };
  /** Group commits since open, and the most messages (inserts + deletes) one of them carried. */
  commits: number;
  maxBatch: number;
  /** How many times MQTT.js re-sent its in-flight window on a new connection, and how many packets in total. */
  replays: number;
  replayedPackets: number;
  /** Set when the file was unreadable at open and moved aside. */
  recovered?: RecoveredFile;
}

/** MQTT.js client options the outbox needs; spread them into `mqtt.connect`. */
export type OutboxMqttOptions = Required<Pick<IClientOptions, 'outgoingStore' | 'messageIdProvider'>>;

/** A publish waiting for its commit; once committed (seq assigned) it is its own row in the hot range. */
interface PendingInsert extends OutboxRow {
  durable: Deferred<PublishReceipt>;
  acked: Deferred<void>;
}

interface Inflight {
  token: number;
  summary: RowSummary;
}

interface Drop {
  summary: RowSummary;
  reason: DropReason;
  reasonCode?: number;
}

const NOOP_LOGGER = pino({ level: 'silent' });

// MQTT.js copies its options; one shared object saves an allocation per message.
const QOS1 = Object.freeze({ qos: 1 as const });

/** Most rows the hot range keeps in memory. */
const HOT_MAX = 8192;

function validTopic(topic: unknown): topic is string {
  return (
    typeof topic === 'string' &&
    topic.length > 0 &&
    !/[+#]/.test(topic) &&
    !topic.includes('\u0000') &&
    Buffer.byteLength(topic) <= 65535
  );
}

/**
 * Durable outbox for QoS 1 publishes over one SQLite file. Create with {@link Outbox.open}; pass
 * {@link Outbox.mqttOptions} to `mqtt.connect`, then {@link Outbox.attach} the client. See `agent/outbox/README.md`.
 */
export class Outbox implements Uplink {
  private readonly table: OutboxTable;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly onDrop?: (info: DropInfo) => void;
  private readonly commit: (work: () => void) => void;

  /** Next sequence to assign; everything below it that still exists is committed. */
  private nextSeq: number;
  /**
   * The hot range: committed rows not yet sent, kept from their commit so the dispatcher need not read back what it
   * just wrote. When `hotFrom` is not 0, `hot` holds exactly the unsent rows with `hotFrom <= seq < nextSeq`;
   * older rows (a backlog after a restart, an outage, a rewind) are read from SQLite.
   */
  private readonly hot = new Map<number, OutboxRow>();
  private hotFrom = 0;
  /** Committed batches whose WAL fsync has not returned yet. */
  private readonly syncing = new Set<PendingInsert[]>();
  /** Committed rows and bytes in the table. */
  private rows: number;
  private bytes: number;
  /** Lowest sequence not yet handed to MQTT.js in this process. */
  private cursor: number;
  private readonly inflight = new Map<number, Inflight>();
  /** Rows acknowledged or dropped whose delete waits for the next commit: seq -> size. */
  private deleting = new Map<number, number>();
  private readonly ackWaiters = new Map<number, Deferred<void>>();
  private pendingInserts: PendingInsert[] = [];
  private flushHandle: NodeJS.Immediate | undefined;
  private sweepDue = false;
  private readonly sweepTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;

  private client: MqttClient | undefined;
  /** The attached client's gate: on each new connection nothing is (re)sent before it settles. */
  private beforeSending: (() => Promise<void>) | undefined;
  private readonly stores = new WeakSet<InflightStore>();
  private detachListeners: (() => void) | undefined;
  private online = false;
  private window: number;
  private dispatchToken = 0;
  private pumping = false;
  private closing = false;
  private closed = false;

  private readonly counters = {
    accepted: 0,
    acked: 0,
    dropped: { expired: 0, evicted: 0, refused: 0 } as Record<DropReason, number>,
    rejected: { full: 0, diskFull: 0, storage: 0 },
    commits: 0,
    maxBatch: 0,
    replays: 0,
    replayedPackets: 0,
  };

  private constructor(
    private readonly store: AgentDb,
    private readonly ownsDb: boolean,
    private readonly opts: ResolvedOutboxOptions,
    options: OutboxOptions,
  ) {
    this.log = (options.logger ?? NOOP_LOGGER).child({ component: 'outbox' });
    this.now = options.now ?? Date.now;
    this.onDrop = options.onDrop;
    this.table = new OutboxTable(store.db, opts.overflow !== 'reject');
    const tx = store.db.transaction((work: () => void) => work());
    this.commit = (work) => tx(work);
    const t = this.table.totals();
    this.rows = t.rows;
    this.bytes = t.bytes;
    this.nextSeq = (t.maxSeq ?? 0) + 1;
    this.cursor = t.minSeq ?? this.nextSeq;
    this.window = opts.maxInflight;
    if (opts.sweepIntervalMs > 0) {
      this.sweepTimer = setInterval(() => {
        this.sweepDue = true;
        this.scheduleFlush();
      }, opts.sweepIntervalMs);
      this.sweepTimer.unref();
    }
  }

  /**
   * Opens the outbox on `file` (created if missing; moved aside and recreated if unreadable) or on a shared `db`
   * handle, and drops what expired while the agent was down. Pending messages are sent, oldest first, once a
   * client is attached and connected. Throws {@link OutboxConfigError} or {@link OutboxStorageError}.
   */
  static open(options: OutboxOptions): Outbox {
    const opts = resolveOutboxOptions(options);
    const owns = options.db === undefined;
    const store = options.db ?? openAgentDb({ file: options.file as string, synchronous: opts.synchronous, logger: options.logger?.child({ component: 'outbox' }) });
    try {
      const outbox = new Outbox(store, owns, opts, options);
      outbox.sweepAtOpen();
      return outbox;
    } catch (e) {
      if (owns) store.close();
      if (e instanceof OutboxError) throw e;
      throw new OutboxStorageError(`preparing the outbox table in ${store.file}`, sqliteCode(e), e);
    }
  }

  /**
   * Options for `mqtt.connect`: the in-flight store (so MQTT.js's own reconnect re-send covers the window and
   * nothing else) and a packet-id provider that never hands out an id still in flight. Call once per client.
   */
  mqttOptions(): OutboxMqttOptions {
    const messageIdProvider = new UniqueMessageIdProvider();
    const store: InflightStore = new InflightStore({
      beforeReplay: (ids) => this.gateReplay(store, messageIdProvider, ids),
      onReplay: (count) => {
        if (count === 0) return;
        this.counters.replays++;
        this.counters.replayedPackets += count;
        this.log.info({ count }, 're-sending unacknowledged in-flight messages on the new connection');
      },
      onClose: () => {
        if (this.client?.outgoingStore === store) this.rewindAll('MQTT.js closed its store');
      },
    });
    this.stores.add(store);
    return { outgoingStore: store, messageIdProvider };
  }

  /**
   * Runs in MQTT.js's CONNACK handling, before it re-sends the window and before `connect` (which starts the
   * dispatcher): holds both until the attached client's `beforeSending` gate settles.
   */
  private gateReplay(store: InflightStore, ids: UniqueMessageIdProvider, held: number[]): Promise<void> | undefined {
    const ready = this.client?.outgoingStore === store ? this.beforeSending : undefined;
    if (!ready) return undefined;
    // MQTT.js freed every packet id on CONNACK, but the window's packets still carry theirs: a SUBSCRIBE sent
    // through the gate must not take one, or its entry in client.outgoing would replace the packet's callback and
    // that message would never hear its PUBACK. Reserved until the gate opens, then handed back for the re-send.
    const reserved = held.filter((id) => ids.register(id));
    const release = () => {
      for (const id of reserved) ids.deallocate(id);
    };
    let gate: Promise<void>;
    try {
      gate = ready();
    } catch (e) {
      gate = Promise.reject(e);
    }
    return gate.then(release, (e: unknown) => {
      // A failed gate must not hold the messages back for good: they go out anyway.
      this.log.warn({ err: errorMessage(e) }, 'the gate before sending on a new connection failed; sending anyway');
      release();
    });
  }

  /**
   * Sends through `client` from now on. Replaces a previously attached client (whose in-flight messages are then
   * sent again through the new one). The client should come from `mqtt.connect({ ...outbox.mqttOptions(), ... })`
   * with `reconnectPeriod > 0`; every QoS 1 publish on it must go through the outbox.
   *
   * `beforeSending`, when given, is called on every new connection of the client, during MQTT.js's CONNACK handling
   * and before anything is sent or re-sent on it; the outbox holds its messages (and MQTT.js its re-send) until the
   * promise settles. The session subscribes there, so a platform reply can never beat its subscription.
   */
  attach(client: MqttClient, beforeSending?: () => Promise<void>): void {
    if (this.closed || this.closing) throw new OutboxClosedError('attach() after close()');
    if (this.client === client) return;
    this.detach();
    this.client = client;
    this.beforeSending = beforeSending;
    if (!(client.outgoingStore instanceof InflightStore) || !this.stores.has(client.outgoingStore)) {
      this.log.warn('client was not created with outbox.mqttOptions(): MQTT.js keeps its own in-memory store for the in-flight window');
    }
    const onConnect = (connack: IConnackPacket) => {
      const rm = connack.properties?.receiveMaximum;
      this.window = Math.max(1, Math.min(this.opts.maxInflight, rm ?? this.opts.maxInflight));
      this.online = true;
      this.pump();
    };
    const onClose = () => {
      this.online = false;
    };
    const onEnd = () => this.rewindAll('client ended');
    client.on('connect', onConnect);
    client.on('close', onClose);
    client.on('end', onEnd);
    this.detachListeners = () => {
      client.removeListener('connect', onConnect);
      client.removeListener('close', onClose);
      client.removeListener('end', onEnd);
    };
    if (client.connected) {
      this.online = true;
      this.pump();
    }
  }

  /** Stops sending through the attached client; in-flight messages will be sent again after the next attach. */
  detach(): void {
    if (!this.client) return;
    this.detachListeners?.();
    this.detachListeners = undefined;
    this.rewindAll('client detached');
    this.client = undefined;
    this.beforeSending = undefined;
  }

  /**
   * QoS 1: resolves once the message is committed to SQLite and on disk; `receipt.acked` resolves on its PUBACK, or rejects
   * with {@link OutboxDroppedError} / {@link OutboxClosedError}. Rejects with {@link OutboxFullError},
   * {@link OutboxDiskFullError}, {@link OutboxStorageError}, {@link OutboxInvalidMessageError}.
   * QoS 0: handed straight to MQTT.js, not persisted; `acked` resolves when written.
   */
  publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<PublishReceipt> {
    if (this.closed || this.closing) return Promise.reject(new OutboxClosedError(`publish to ${topic} after close()`));
    if (!validTopic(topic)) {
      return Promise.reject(new OutboxInvalidMessageError('topic', 'a non-empty topic name without + # or NUL, at most 65535 bytes', topic));
    }
    if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) {
      return Promise.reject(new OutboxInvalidMessageError('payload', 'a string or Buffer', payload));
    }
    const buf = typeof payload === 'string' ? Buffer.from(payload) : payload;
    if (opts?.qos === 0) return this.publishQos0(topic, buf, opts);
    if (opts?.qos !== 1) return Promise.reject(new OutboxInvalidMessageError('qos', '0 or 1 (Alink has no QoS 2)', opts?.qos));
    const cls: MessageClass = opts.messageClass ?? 'custom';
    const props = encodeProperties(opts.properties);
    const size = Buffer.byteLength(topic) + buf.length + (props === null ? 0 : Buffer.byteLength(props));
    if (size > this.opts.maxBytes) {
      this.counters.rejected.full++;
      return Promise.reject(new OutboxFullError('maxBytes', this.opts.maxBytes, size, describePolicy(this.opts.overflow)));
    }
    const createdAt = this.now();
    const ttl = this.opts.ttlMs[cls];
    const p: PendingInsert = {
      seq: 0,
      topic,
      payload: buf,
      props,
      cls,
      size,
      created_at: createdAt,
      expires_at: ttl === undefined ? null : createdAt + ttl,
      durable: new Deferred<PublishReceipt>(),
      acked: new Deferred<void>(true),
    };
    this.pendingInserts.push(p);
    this.scheduleFlush();
    return p.durable.promise;
  }

  /** Durable messages not yet acknowledged or dropped. */
  depth(): number {
    return this.rows - this.deleting.size;
  }

  /** A snapshot of the counters. */
  stats(): OutboxStats {
    const c = this.counters;
    return {
      depth: this.depth(),
      bytes: this.bytes,
      inflight: this.inflight.size,
      accepted: c.accepted,
      acked: c.acked,
      dropped: { ...c.dropped },
      rejected: { ...c.rejected },
      commits: c.commits,
      maxBatch: c.maxBatch,
      replays: c.replays,
      replayedPackets: c.replayedPackets,
      ...(this.store.recovered ? { recovered: { ...this.store.recovered } } : {}),
    };
  }

  /**
   * Commits what is pending (their publish promises resolve), stops sending, rejects outstanding `acked` promises
   * with {@link OutboxClosedError} (those messages stay in the file and go out after the next open) and closes
   * the file if the outbox opened it. End the MQTT client first to let in-flight PUBACKs arrive.
   */
  close(): void {
    if (this.closed) return;
    this.closing = true;
    if (this.flushHandle) clearImmediate(this.flushHandle);
    this.flushHandle = undefined;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    // Bounded: each round takes up to maxBatch inserts; one extra round retries deletes.
    for (let i = Math.ceil(this.pendingInserts.length / this.opts.maxBatch) + 1; i > 0; i--) {
      if (this.pendingInserts.length === 0 && this.deleting.size === 0) break;
      this.flush();
    }
    this.detach();
    // Whatever is committed but still waiting for its fsync becomes durable here, synchronously.
    try {
      this.store.syncNow();
      for (const batch of [...this.syncing]) this.settleDurable(batch, undefined);
    } catch (e) {
      for (const batch of [...this.syncing]) this.settleDurable(batch, e as Error);
    }
    this.closed = true;
    for (const w of this.ackWaiters.values()) w.reject(new OutboxClosedError('closed before the PUBACK arrived; the message stays stored'));
    this.ackWaiters.clear();
    for (const p of this.pendingInserts) p.durable.reject(new OutboxClosedError('closed before the message was persisted'));
    this.pendingInserts = [];
    if (this.ownsDb) this.store.close();
  }

  private publishQos0(topic: string, payload: Buffer, opts: PublishOptions): Promise<PublishReceipt> {
    const client = this.client;
    if (!client) return Promise.reject(new OutboxNotAttachedError());
    const acked = new Deferred<void>(true);
    client.publish(topic, payload, { qos: 0, ...(opts.properties ? { properties: opts.properties } : {}) }, (err) => {
      if (err) acked.reject(new OutboxSendError(topic, err));
      else acked.resolve();
    });
    return Promise.resolve({ acked: acked.promise });
  }

  private scheduleFlush(): void {
    // While closing, close() itself flushes, a bounded number of times.
    if (this.flushHandle || this.closed || this.closing) return;
    // setImmediate runs after the I/O callbacks of this loop turn: every publish and PUBACK that arrived together
    // lands in one transaction, i.e. one fsync.
    this.flushHandle = setImmediate(() => {
      this.flushHandle = undefined;
      this.flush();
    });
  }

  /** One group commit: deletes, due sweep, then inserts under the bounds. */
  private flush(): void {
    if (this.closed) return;
    const inserts = this.pendingInserts.length <= this.opts.maxBatch ? this.pendingInserts : this.pendingInserts.slice(0, this.opts.maxBatch);
    this.pendingInserts = inserts === this.pendingInserts ? [] : this.pendingInserts.slice(inserts.length);
    // Taken whole: the map fills again from PUBACKs while this commit's deletes are in SQLite.
    const deletes = this.deleting;
    if (deletes.size > 0) this.deleting = new Map();
    const sweep = this.sweepDue;
    this.sweepDue = false;
    if (inserts.length === 0 && deletes.size === 0 && !sweep) return;
    // The inbox's records of this turn go in first: a reply committed here may leave at once, and the record of
    // the request it answers must not be younger than it (a crash in between would apply a redelivery twice).
    if (inserts.length > 0) this.store.runBeforeCommit();

    const run = { rows: this.rows, bytes: this.bytes };
    let seq = this.nextSeq;
    const drops: Drop[] = [];
    let accepted: PendingInsert[] = [];
    const refused: Array<[PendingInsert, OutboxFullError]> = [];
    const now = this.now();
    let swept = false;
    const sweepExpired = () => {
      swept = true;
      for (const r of this.table.sweepExpired(now, this.cursor)) {
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
        if (run.rows + inserts.length <= this.opts.maxRows && run.bytes + bytes <= this.opts.maxBytes) {
          // Everything fits: no bound decisions, bulk statements.
          for (const p of inserts) p.seq = seq++;
          this.table.insertMany(inserts, 0, inserts.length);
          accepted = inserts;
          run.rows += inserts.length;
          run.bytes += bytes;
          return;
        }
        accepted = [];
        for (const p of inserts) {
          const err = this.makeRoom(p.size, run, swept ? undefined : sweepExpired, drops);
          if (err) {
            refused.push([p, err]);
            continue;
          }
          p.seq = seq++;
          this.table.insert(p);
          accepted.push(p);
          run.rows++;
          run.bytes += p.size;
        }
      });
    } catch (e) {
      this.failBatch(inserts, deletes, e);
      return;
    }
    this.counters.commits++;
    this.counters.maxBatch = Math.max(this.counters.maxBatch, inserts.length + deletes.size);
    this.rows = run.rows;
    this.bytes = run.bytes;
    const committedBefore = this.nextSeq - 1;
    this.nextSeq = seq;
    // The waiter exists from the commit on, so a drop before the fsync returns can still reject it.
    for (const p of accepted) this.ackWaiters.set(p.seq, p.acked);
    for (const [p, err] of refused) {
      this.counters.rejected.full++;
      this.log.warn({ topic: p.topic, messageClass: p.cls, limit: err.limit, max: err.max }, err.message);
      p.durable.reject(err);
    }
    // Drops first: with synchronous 'normal' the batch settles (and may be sent) inside syncLater.
    for (const d of drops) this.reportDrop(d);
    if (accepted.length > 0) {
      // Committed rows may be sent now; their publishers hear "durable" when the fsync returns. A message sent
      // before its fsync and lost in a power cut was never reported stored, so no promise is broken.
      const batch = accepted;
      this.extendHot(batch, committedBefore);
      this.syncing.add(batch);
      this.store.syncLater((err) => this.settleDurable(batch, err));
    }
    if (this.pendingInserts.length > 0) this.scheduleFlush();
    this.pump();
  }

  /**
   * Deletes acknowledged and dropped rows, one statement per run of consecutive sequences (PUBACKs mostly arrive
   * in order, so a batch is usually one range). Every row in `deleting` is still stored; if a count disagrees the
   * totals are re-read so the bounds stay exact.
   */
  private deleteRuns(deletes: ReadonlyMap<number, number>, run: { rows: number; bytes: number }): void {
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
      const gone = this.table.deleteRange(first, seqs[j] as number);
      if (gone !== j - i + 1) consistent = false;
      run.rows -= gone;
      run.bytes -= bytes;
      i = j + 1;
    }
    if (!consistent) {
      this.log.warn({ deletes: deletes.size }, 'outbox delete count differs from what was expected; re-reading totals');
      const t = this.table.totals();
      run.rows = t.rows;
      run.bytes = t.bytes;
    }
  }

  /** The WAL fsync covering `batch` returned: its publishes resolve (or learn the fsync failed). */
  private settleDurable(batch: PendingInsert[], err: Error | undefined): void {
    if (!this.syncing.delete(batch)) return;
    if (err) this.log.error({ err: err.message, messages: batch.length }, 'fsync of the outbox WAL failed; the messages stay queued but were not reported durable');
    for (const p of batch) {
      if (err) {
        this.counters.rejected.storage++;
        p.durable.reject(new OutboxStorageError('syncing the WAL to disk', undefined, err));
        continue;
      }
      this.counters.accepted++;
      p.durable.resolve({ acked: p.acked.promise });
    }
  }

  /**
   * Makes room for one more row of `size` bytes inside the running transaction: first by sweeping expired rows
   * (once per commit), then, under `dropOldestOf`, by deleting the oldest unsent rows of those classes, even ones
   * inserted earlier in this batch: the result is the same as committing one message at a time. Updates `run`;
   * returns the refusal if there is still no room.
   */
  private makeRoom(
    size: number,
    run: { rows: number; bytes: number },
    sweep: (() => void) | undefined,
    drops: Drop[],
  ): OutboxFullError | undefined {
    const over = (): 'maxRows' | 'maxBytes' | undefined =>
      run.rows + 1 > this.opts.maxRows ? 'maxRows' : run.bytes + size > this.opts.maxBytes ? 'maxBytes' : undefined;
    if (over() === undefined) return undefined;
    sweep?.();
    const policy = this.opts.overflow;
    if (policy !== 'reject') {
      while (over() !== undefined) {
        let oldest: RowSummary | undefined;
        for (const cls of policy.dropOldestOf) {
          const r = this.table.oldestOf(cls, this.cursor);
          if (r && (!oldest || r.seq < oldest.seq)) oldest = r;
        }
        if (!oldest) break;
        this.table.delete(oldest.seq);
        run.rows--;
        run.bytes -= oldest.size;
        drops.push({ summary: oldest, reason: 'evicted' });
      }
    }
    const limit = over();
    if (limit === undefined) return undefined;
    return new OutboxFullError(limit, this.opts[limit], limit === 'maxRows' ? run.rows + 1 : run.bytes + size, describePolicy(policy));
  }

  /** The transaction failed and was rolled back: refuse its inserts, keep its deletes for a retry on their own. */
  private failBatch(inserts: PendingInsert[], deletes: Map<number, number>, e: unknown): void {
    const code = sqliteCode(e);
    const full = code === 'SQLITE_FULL';
    for (const p of inserts) {
      if (full) this.counters.rejected.diskFull++;
      else this.counters.rejected.storage++;
      p.durable.reject(full ? new OutboxDiskFullError(this.store.file, e) : new OutboxStorageError('committing a batch', code, e));
    }
    this.log.error({ err: errorMessage(e), sqliteCode: code, inserts: inserts.length, deletes: deletes.size }, 'outbox commit failed; publishes in it were refused');
    if (deletes.size > 0) {
      // A delete needs no new pages, so it usually succeeds where inserts hit SQLITE_FULL.
      try {
        const run = { rows: this.rows, bytes: this.bytes };
        this.commit(() => this.deleteRuns(deletes, run));
        this.rows = run.rows;
        this.bytes = run.bytes;
        this.counters.commits++;
      } catch (e2) {
        for (const [s, size] of deletes) this.deleting.set(s, size);
        this.log.error({ err: errorMessage(e2), sqliteCode: sqliteCode(e2) }, 'outbox delete of acknowledged messages failed; retrying in 1 s');
        // Not at once: a broken disk would otherwise turn this into a busy loop.
        if (!this.retryTimer) {
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            this.scheduleFlush();
          }, 1000);
          this.retryTimer.unref();
        }
      }
    }
    if (this.pendingInserts.length > 0) this.scheduleFlush();
    this.pump();
  }

  private sweepAtOpen(): void {
    const drops: Drop[] = [];
    let rows = this.rows;
    let bytes = this.bytes;
    this.commit(() => {
      for (const r of this.table.sweepExpired(this.now(), this.cursor)) {
        rows--;
        bytes -= r.size;
        drops.push({ summary: r, reason: 'expired' });
      }
    });
    this.rows = rows;
    this.bytes = bytes;
    for (const d of drops) this.reportDrop(d);
    if (this.rows > 0) this.log.info({ pending: this.rows, bytes: this.bytes, firstSeq: this.cursor }, 'outbox opened with pending messages');
  }

  /**
   * Hands committed rows to MQTT.js in sequence order while connected and the window has room: first from SQLite (a
   * backlog, a page at a time), then from the hot range kept in memory since the commit.
   */
  private pump(): void {
    if (!this.online || !this.client || this.closing || this.pumping || this.cursor >= this.nextSeq) return;
    this.pumping = true;
    try {
      const now = this.now();
      let free = this.window - this.inflight.size;
      const last = this.nextSeq - 1;
      while (free > 0 && this.online && this.cursor <= last) {
        const dbTo = this.hotFrom !== 0 ? this.hotFrom - 1 : last;
        if (this.cursor <= dbTo) {
          const want = free;
          const page = this.table.page(this.cursor, dbTo, want);
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
      this.log.error({ err: errorMessage(e), sqliteCode: sqliteCode(e) }, 'outbox could not read pending messages; retrying after the next commit');
    } finally {
      this.pumping = false;
    }
  }

  /** Sends `row` unless it is already in flight, being deleted, or expired (then dropped). True if it was sent. */
  private take(row: OutboxRow, now: number): boolean {
    if (this.inflight.has(row.seq) || this.deleting.has(row.seq)) return false;
    if (row.expires_at !== null && row.expires_at <= now) {
      this.deleting.set(row.seq, row.size);
      this.reportDrop({ summary: row, reason: 'expired' });
      this.scheduleFlush();
      return false;
    }
    this.dispatch(row);
    return true;
  }

  /** Adds a just-committed batch to the hot range, or gives the range up when it no longer describes the table. */
  private extendHot(batch: PendingInsert[], committedBefore: number): void {
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
      // No waiter means the row was dropped (evicted in this same commit).
      if (this.ackWaiters.has(p.seq)) this.hot.set(p.seq, p);
    }
    // While offline the range would grow with the backlog; past the bound SQLite is the copy to read from.
    if (this.hot.size > HOT_MAX) this.dropHot();
  }

  private dropHot(): void {
    this.hot.clear();
    this.hotFrom = 0;
  }

  private dispatch(row: OutboxRow): void {
    const client = this.client as MqttClient;
    const token = ++this.dispatchToken;
    const seq = row.seq;
    this.inflight.set(seq, { token, summary: row });
    const properties = row.props === null ? undefined : decodeProperties(row.props);
    client.publish(row.topic, row.payload, properties ? { qos: 1, properties } : QOS1, (err) => this.onSent(seq, token, err));
  }

  /** MQTT.js's publish callback: PUBACK (success or MQTT 5 refusal), or the packet never made it into its store. */
  private onSent(seq: number, token: number, err: Error | undefined): void {
    const f = this.inflight.get(seq);
    if (!f || f.token !== token || this.closed) return;
    this.inflight.delete(seq);
    if (!err) {
      this.counters.acked++;
      this.deleting.set(seq, f.summary.size);
      const w = this.ackWaiters.get(seq);
      if (w) {
        this.ackWaiters.delete(seq);
        w.resolve();
      }
      this.scheduleFlush();
      return;
    }
    if (err instanceof ErrorWithReasonCode && typeof err.code === 'number') {
      // A negative PUBACK is final for this message: sending it again would be refused again.
      this.deleting.set(seq, f.summary.size);
      this.reportDrop({ summary: f.summary, reason: 'refused', reasonCode: err.code });
      this.scheduleFlush();
      return;
    }
    // Connection closed or client disconnecting before MQTT.js stored it: send it again on the next connection.
    this.log.debug({ seq, err: err.message }, 'dispatch not taken by MQTT.js; will resend after reconnect');
    this.cursor = Math.min(this.cursor, seq);
    this.online = false;
  }

  private rewindAll(why: string): void {
    if (this.inflight.size === 0) {
      this.online = false;
      return;
    }
    let min = this.cursor;
    for (const seq of this.inflight.keys()) min = Math.min(min, seq);
    this.log.info({ inflight: this.inflight.size, fromSeq: min, why }, 'in-flight messages will be sent again from the outbox');
    this.inflight.clear();
    this.cursor = min;
    this.online = false;
  }

  private reportDrop(d: Drop): void {
    const s = d.summary;
    this.inflight.delete(s.seq);
    this.hot.delete(s.seq);
    this.counters.dropped[d.reason]++;
    const info: DropInfo = {
      reason: d.reason,
      seq: s.seq,
      topic: s.topic,
      messageClass: s.cls,
      ageMs: this.now() - s.created_at,
      ...(d.reasonCode !== undefined ? { reasonCode: d.reasonCode } : {}),
    };
    this.log.warn(info, `outbox dropped a message (${d.reason})`);
    const w = this.ackWaiters.get(s.seq);
    if (w) {
      this.ackWaiters.delete(s.seq);
      const detail =
        d.reason === 'refused' ? `broker answered PUBACK reason code ${d.reasonCode}` : d.reason === 'expired' ? `older than its time to live` : `overflow policy ${describePolicy(this.opts.overflow)}`;
      w.reject(new OutboxDroppedError(d.reason, s.seq, detail));
    }
    if (this.onDrop) {
      try {
        this.onDrop(info);
      } catch (e) {
        this.log.error({ err: errorMessage(e) }, 'onDrop callback threw');
      }
    }
  }
}
