/**
 * The durable QoS 1 outbox: a layer in front of an MQTT.js client that implements `Uplink`.
 *
 * Path of a QoS 1 message: `publish` queues it; the next group commit (`group-commit.ts`) writes it (with every
 * other publish of the same turn of the event loop) in one SQLite transaction; the dispatcher (`dispatcher.ts`)
 * hands committed rows to MQTT.js in sequence order, at most a window at a time; one fsync of the WAL covers the
 * commit and the caller's promise resolves after it; on PUBACK the row's delete joins the next group commit and
 * `receipt.acked` resolves. While the connection is down nothing is handed over, so rows wait in SQLite, not in
 * MQTT.js's memory. MQTT.js re-sends its in-flight window itself when the connection returns (through
 * {@link InflightStore}); the dispatcher then continues after it. Both wait for the {@link ReplayGate} given to
 * {@link Outbox.attach} (the session's subscriptions), so replies to what is sent cannot arrive before their
 * subscription. This file is the facade: it checks what is published, wires the parts and reports.
 */
import { UniqueMessageIdProvider, type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { openAgentDb, type AgentDb, type RecoveredFile } from '../storage/db';
import type { MessageClass, PublishOptions, PublishReceipt, Uplink } from '../transport';
import { Deferred } from './deferred';
import { Dispatcher } from './dispatcher';
import {
  OutboxClosedError,
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
import { GroupCommit, type PendingInsert } from './group-commit';
import { InflightStore, type ReplayGate } from './inflight-store';
import { describePolicy, resolveOutboxOptions, type OutboxOptions, type ResolvedOutboxOptions } from './options';
import { decodeProperties, encodeProperties } from './properties';
import { NOOP_LOGGER, Receipts, newCounters, reportDrop, type Drop } from './receipts';
import { OutboxTable } from './table';

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
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly counters = newCounters();
  private readonly receipts = new Receipts();
  private readonly commit: GroupCommit;
  private readonly dispatcher: Dispatcher;
  private client: MqttClient | undefined;
  /** The attached client's gate: on each new connection nothing is (re)sent before it opens. */
  private gate: ReplayGate | undefined;
  private readonly stores = new WeakSet<InflightStore>();
  private detachListeners: (() => void) | undefined;
  private closed = false;
  private readonly drop: (d: Drop) => void;

  private constructor(
    private readonly store: AgentDb,
    private readonly ownsDb: boolean,
    private readonly opts: ResolvedOutboxOptions,
    options: OutboxOptions,
  ) {
    const log = (this.log = (options.logger ?? NOOP_LOGGER).child({ component: 'outbox' }));
    const now = (this.now = options.now ?? Date.now);
    const { counters, receipts } = this;
    const table = new OutboxTable(store.db, opts.overflow !== 'reject');
    const ctx = { counters, receipts, log, now, opts, onDrop: options.onDrop };
    this.drop = (d) => {
      this.dispatcher.forget(d.summary.seq);
      reportDrop(d, ctx);
    };
    this.commit = new GroupCommit({
      store,
      table,
      opts,
      receipts,
      counters,
      log,
      now,
      hooks: {
        firstUnsent: () => this.dispatcher.cursor,
        committed: (batch, before) => this.dispatcher.committed(batch, before),
        afterCommit: () => this.dispatcher.pump(),
        drop: this.drop,
      },
    });
    this.dispatcher = new Dispatcher({ table, commit: this.commit, receipts, counters, log, now, maxInflight: opts.maxInflight, drop: this.drop, ...(options.aged ? { aged: options.aged } : {}) });
  }

  /**
   * Opens the outbox on `file` (created if missing; moved aside and recreated if unreadable) or on a shared `db`
   * handle, and drops what expired while the agent was down. Pending messages are sent, oldest first, once a
   * client is attached and connected. Throws {@link OutboxConfigError} or {@link OutboxStorageError}, and the
   * storage module's `STORAGE_*` errors when it opens `file`.
   */
  static open(options: OutboxOptions): Outbox {
    const opts = resolveOutboxOptions(options);
    const owns = options.db === undefined;
    const store = options.db ?? openAgentDb({ file: options.file as string, synchronous: opts.synchronous, logger: options.logger?.child({ component: 'outbox' }) });
    try {
      const outbox = new Outbox(store, owns, opts, options);
      outbox.commit.sweepAtOpen();
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
      // Only the attached client's connections are gated: a store of a replaced client re-sends nothing anyway.
      beforeReplay: (ids) => (this.client?.outgoingStore === store ? this.gate?.hold(ids) : undefined),
      onReplay: (count) => {
        if (count === 0) return;
        this.counters.replays++;
        this.counters.replayedPackets += count;
        this.log.info({ count }, 're-sending unacknowledged in-flight messages on the new connection');
      },
      onClose: () => {
        if (this.client?.outgoingStore === store) this.dispatcher.rewindAll('MQTT.js closed its store');
      },
      skipOnReplay: (packet) => packet.cmd === 'publish' && this.dispatcher.holds(packet.topic),
      skipped: (id) => {
        // MQTT.js will not hear a PUBACK for it: its id and callback go; the row is sent anew once released.
        messageIdProvider.deallocate(id);
        if (this.client) delete (this.client.outgoing as Record<number, unknown>)[id];
      },
      afterSkip: () => this.dispatcher.unsendHeld(),
    });
    this.stores.add(store);
    return { outgoingStore: store, messageIdProvider };
  }

  /**
   * Sends through `client` from now on. Replaces a previously attached client (whose in-flight messages are then
   * sent again through the new one). The client should come from `mqtt.connect({ ...outbox.mqttOptions(), ... })`
   * with `reconnectPeriod > 0`; every QoS 1 publish on it must go through the outbox.
   *
   * `gate`, when given, is asked on every new connection of the client, during MQTT.js's CONNACK handling and
   * before anything is sent or re-sent on it; the outbox holds its messages (and MQTT.js its re-send) until it
   * opens. The session's gate subscribes there, so a platform reply can never beat its subscription.
   */
  attach(client: MqttClient, gate?: ReplayGate): void {
    if (this.closed) throw new OutboxClosedError('attach() after close()');
    if (this.client === client) return;
    this.detach();
    this.client = client;
    this.gate = gate;
    this.dispatcher.use(client);
    if (!(client.outgoingStore instanceof InflightStore) || !this.stores.has(client.outgoingStore)) {
      this.log.warn('client was not created with outbox.mqttOptions(): MQTT.js keeps its own in-memory store for the in-flight window');
    }
    const onConnect = (connack: IConnackPacket) => this.dispatcher.connected(connack.properties?.receiveMaximum);
    const onClose = () => this.dispatcher.disconnected();
    const onEnd = () => this.dispatcher.rewindAll('client ended');
    client.on('connect', onConnect);
    client.on('close', onClose);
    client.on('end', onEnd);
    this.detachListeners = () => {
      client.removeListener('connect', onConnect);
      client.removeListener('close', onClose);
      client.removeListener('end', onEnd);
    };
    if (client.connected) this.dispatcher.connected(undefined);
  }

  /**
   * Messages on topics `hold` says true for wait in the outbox (kept, not sent, in-flight ones taken out of a
   * re-send) until {@link release}: a gateway's sub-devices that are not logged in, whose messages the platform
   * would refuse (docs/protocol/gateway.md, "Held messages"). `undefined` holds nothing. `onRefused` hears every
   * PUBACK refusal first: when the hold then keeps the topic, the message is kept too and sent after the release
   * (at most a few times), instead of being dropped as refused.
   */
  setHold(hold: ((topic: string) => boolean) | undefined, onRefused?: (topic: string, reasonCode: number) => void): void {
    this.dispatcher.setHold(hold, onRefused);
  }

  /**
   * Keeps each acknowledged message for a few seconds under the key `keyOf` gives its topic (a sub-device's), so that
   * {@link resendAcked} can queue it again when the platform says after the fact that it dropped it (`/ext/error`
   * 520, docs/protocol/gateway.md "Held messages"). In memory only, bounded (recent-acks.ts).
   */
  keepAcked(keyOf: ((topic: string) => string | undefined) | undefined): void {
    this.dispatcher.keepAcked(keyOf);
  }

  /**
   * Queues again, as new durable messages, what was acknowledged under `key` within the last few seconds; the hold
   * keeps them until released. Returns how many. A message that cannot be queued (the outbox full) is logged.
   */
  resendAcked(key: string): number {
    const rows = this.dispatcher.takeRecent(key);
    for (const row of rows) {
      const props = decodeProperties(row.props);
      this.publish(row.topic, row.payload, { qos: 1, messageClass: row.cls as MessageClass, ...(props ? { properties: props } : {}) }).catch((err: unknown) =>
        this.log.warn({ err: errorMessage(err), topic: row.topic }, 'acknowledged message the platform dropped could not be queued again'),
      );
    }
    return rows.length;
  }

  /** What the hold says may have changed: held messages it now lets go are sent. */
  release(): void {
    this.dispatcher.release();
  }

  /** Stops sending through the attached client; in-flight messages will be sent again after the next attach. */
  detach(): void {
    if (!this.client) return;
    this.detachListeners?.();
    this.detachListeners = undefined;
    this.dispatcher.rewindAll('client detached');
    this.dispatcher.use(undefined);
    this.client = undefined;
    this.gate = undefined;
  }

  /**
   * QoS 1: resolves once the message is committed to SQLite and on disk; `receipt.acked` resolves on its PUBACK, or rejects
   * with {@link OutboxDroppedError} / {@link OutboxClosedError}. Rejects with {@link OutboxFullError},
   * {@link OutboxDiskFullError}, {@link OutboxStorageError}, {@link OutboxInvalidMessageError}.
   * QoS 0: handed straight to MQTT.js, not persisted; `acked` resolves when written.
   */
  publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<PublishReceipt> {
    if (this.closed) return Promise.reject(new OutboxClosedError(`publish to ${topic} after close()`));
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
    this.commit.queue(p);
    return p.durable.promise;
  }

  /** Durable messages not yet acknowledged or dropped. */
  depth(): number {
    return this.commit.depth();
  }

  /** A snapshot of the counters. */
  stats(): OutboxStats {
    const c = this.counters;
    return {
      depth: this.depth(),
      bytes: this.commit.bytes,
      inflight: this.dispatcher.inflightCount,
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
    this.closed = true;
    this.dispatcher.close();
    this.commit.drain();
    this.detach();
    // Whatever is committed but still waiting for its fsync becomes durable here, synchronously.
    this.commit.finish();
    this.receipts.rejectAll(new OutboxClosedError('closed before the PUBACK arrived; the message stays stored'));
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
}
