/**
 * The MQTT.js outgoing store the outbox hands to the client (`outbox.mqttOptions().outgoingStore`). It holds only
 * the in-flight window: packets the outbox has passed to MQTT.js and the broker has not acknowledged. Each one is
 * already durable in SQLite, so this store stays in memory; MQTT.js keeps its own job of re-sending them, in
 * order, when a connection comes back. Everything not yet in flight waits in SQLite, not here.
 *
 * `createStream` is also the one place where code runs during MQTT.js's CONNACK handling after `connected` is set
 * and before anything is re-sent (MQTT.js emits `connect` only once this stream has ended). The store asks its
 * {@link InflightStoreHooks.beforeReplay} there; the outbox passes that on to the attached client's
 * {@link ReplayGate} (the session's connect gate, `agent/session/connect-gate.ts`), which owns the rest.
 */
import { Readable } from 'node:stream';
import type { IStore, Packet } from 'mqtt';

type StorePacket = Parameters<IStore['put']>[0];
type DoneCallback = Parameters<IStore['put']>[1];
type PacketCallback = Parameters<IStore['del']>[1];
type StoreStream = ReturnType<IStore['createStream']>;

/**
 * What holds the re-send (and with it the dispatcher, which starts on `connect`) on a new connection: the session's
 * connect gate, given to `Outbox.attach`.
 */
export interface ReplayGate {
  /**
   * Called inside MQTT.js's CONNACK handling with the packet ids the in-flight window holds. A returned promise
   * holds everything on this connection until it settles; it must not reject.
   */
  hold(heldIds: number[]): Promise<void> | undefined;
}

/** What the outbox wants to hear from its store. */
export interface InflightStoreHooks {
  /** MQTT.js starts re-sending the window on a new connection. */
  onReplay(count: number): void;
  /**
   * A new connection's CONNACK was handled and MQTT.js asks for the window to re-send; `ids` are the packet ids it
   * holds. When this returns a promise, nothing is re-sent (and MQTT.js emits `connect` only) after it settles.
   */
  beforeReplay?(ids: number[]): Promise<void> | undefined;
  /** MQTT.js closed the store (`client.end()`): whatever was in flight will not be re-sent by it. */
  onClose(): void;
  /**
   * Once the gate opened, before the re-send: true for a packet that must not go on this connection now (its topic is
   * held). It is taken out of the store; `skipped` hears its packet id, then `afterSkip` once per replay.
   */
  skipOnReplay?(packet: Packet): boolean;
  skipped?(messageId: number): void;
  afterSkip?(): void;
}

/** An MQTT.js `IStore` for the outbox's in-flight window. */
export class InflightStore implements IStore {
  // A Map iterates in insertion order, which is the order the outbox dispatched (its sequence order).
  private readonly packets = new Map<number, Packet>();

  constructor(private readonly hooks: InflightStoreHooks) {}

  /** Packets currently held. */
  get size(): number {
    return this.packets.size;
  }

  put(packet: StorePacket, cb: DoneCallback): this {
    if (packet.messageId === undefined) {
      cb(new Error(`outgoing store: a ${packet.cmd} packet without messageId cannot be stored`));
      return this;
    }
    this.packets.set(packet.messageId, packet);
    cb();
    return this;
  }

  get(packet: Pick<Packet, 'messageId'>, cb: PacketCallback): this {
    const p = packet.messageId === undefined ? undefined : this.packets.get(packet.messageId);
    if (p) cb(undefined, p);
    else cb(new Error(`outgoing store: no packet with messageId ${String(packet.messageId)}`));
    return this;
  }

  del(packet: Pick<Packet, 'messageId'>, cb: PacketCallback): this {
    const id = packet.messageId;
    const p = id === undefined ? undefined : this.packets.get(id);
    if (p && id !== undefined) {
      this.packets.delete(id);
      cb(undefined, p);
    } else {
      cb(new Error(`outgoing store: no packet with messageId ${String(id)}`));
    }
    return this;
  }

  /**
   * The packets to re-send on a new connection, oldest first. Re-sent PUBLISHes carry DUP=1 (MQTT 3.1.1 §3.3.1.1,
   * MQTT 5 §3.3.1.1), which MQTT.js's own store leaves at 0.
   */
  createStream(): StoreStream {
    const packets = this.packets;
    const hooks = this.hooks;
    const gate = hooks.beforeReplay?.([...packets.keys()]);
    let it: Iterator<Packet> | undefined;
    // MQTT.js asked for a packet while the gate was closed: one push once it opens wakes it up again.
    let asked = false;
    const pushNext = (stream: Readable) => {
      // Iterate live: a packet acknowledged meanwhile is simply not visited.
      const next = (it as Iterator<Packet>).next();
      if (next.done) stream.push(null);
      else stream.push(next.value.cmd === 'publish' ? { ...next.value, dup: true } : next.value);
    };
    const open = () => {
      if (hooks.skipOnReplay) {
        let any = false;
        for (const [id, p] of packets) {
          if (p.cmd !== 'publish' || !hooks.skipOnReplay(p)) continue;
          packets.delete(id);
          hooks.skipped?.(id);
          any = true;
        }
        if (any) hooks.afterSkip?.();
      }
      hooks.onReplay(packets.size);
      it = packets.values();
    };
    const stream = new Readable({
      objectMode: true,
      read() {
        if (it) pushNext(this);
        else asked = true;
      },
    });
    if (gate === undefined) open();
    else {
      void gate.then(() => {
        // The connection closed meanwhile: MQTT.js destroyed this stream and will ask again on the next one.
        if (stream.destroyed) return;
        open();
        if (asked) pushNext(stream);
      });
    }
    return stream as unknown as StoreStream;
  }

  close(cb: DoneCallback): void {
    this.packets.clear();
    this.hooks.onClose();
    cb();
  }
}
