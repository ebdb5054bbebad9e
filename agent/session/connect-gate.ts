/**
 * The connect gate: on every new connection nothing is sent or re-sent before the session's subscriptions for it
 * are in place, so a platform reply can never beat its subscription. This file is its one owner.
 *
 * Why a gate: MQTT.js re-sends its in-flight window before it emits `connect`, and the outbox starts its backlog
 * on `connect`; subscribing on `connect` would let the replies to those posts arrive before the SUBSCRIBE to their
 * reply topics, and be dropped (each post then times out although delivered). The one hook that runs inside
 * MQTT.js's CONNACK handling, after `connected` is set and before any re-send, is the in-flight store's
 * `createStream` (`agent/outbox/inflight-store.ts`): through the outbox it calls {@link ConnectGate.hold}, which
 * starts the session's step for that CONNACK and holds the re-send (and so `connect`, and so the dispatcher) until
 * the step settles. Without such a store (no outbox) the step starts on `connect`, through
 * {@link ConnectGate.take}. Either way it runs once per CONNACK.
 *
 * The gate is driven, not listening: the session tells it about CONNACKs and closes, so it can be tested without a
 * client.
 */
import type { IConnackPacket } from 'mqtt';
import type { Logger } from 'pino';

/** What the session's step for one connection returns: `ready` settles once the connection may carry traffic. */
export interface GateStep {
  ready: Promise<void>;
}

/** The part of MQTT.js's packet-id provider the gate uses to keep the window's ids from a SUBSCRIBE. */
export interface PacketIds {
  register(id: number): boolean;
  deallocate(id: number): void;
}

export class ConnectGate<P extends GateStep> {
  /** The last CONNACK received, seen before MQTT.js handles it (the store's `createStream` runs inside that handling). */
  private connack: IConnackPacket | undefined;
  /** The step started for the current CONNACK, by {@link hold} or by {@link take}. */
  private current: { packet: IConnackPacket; step: P } | undefined;

  constructor(
    /** The client's packet-id provider (`client.messageIdProvider`). */
    private readonly ids: PacketIds,
    /** Starts the session's work for a new connection (its subscriptions); undefined when there is none (stopping). */
    private readonly start: (connack: IConnackPacket) => P | undefined,
    private readonly log: Logger,
  ) {}

  /** A CONNACK arrived (MQTT.js's `packetreceive`, before it handles the packet). */
  connackReceived(packet: IConnackPacket): void {
    this.connack = packet;
  }

  /** The connection closed: what was started for it is no longer current. */
  connectionClosed(): void {
    this.connack = undefined;
    this.current = undefined;
  }

  /**
   * The in-flight store's call inside MQTT.js's CONNACK handling, with the packet ids the window holds. Starts the
   * step for that CONNACK and returns a promise that settles (never rejects) when it did; undefined when nothing
   * needs to wait.
   */
  hold(heldIds: number[]): Promise<void> | undefined {
    const packet = this.connack;
    if (!packet) return undefined;
    // MQTT.js freed every packet id on CONNACK, but the window's packets still carry theirs: a SUBSCRIBE sent by the
    // step must not take one, or its entry in client.outgoing would replace the packet's callback and that message
    // would never hear its PUBACK. Reserved before the step starts, handed back for the re-send once it settled.
    const reserved = heldIds.filter((id) => this.ids.register(id));
    const release = () => {
      for (const id of reserved) this.ids.deallocate(id);
    };
    let step: P | undefined;
    try {
      step = this.stepFor(packet);
    } catch (e) {
      // A failed gate must not hold the messages back for good: they go out anyway.
      this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'the gate before sending on a new connection failed; sending anyway');
    }
    if (!step) {
      release();
      return undefined;
    }
    // A failed step (a refused subscription) is the session's to report, on `connect`; the messages go out anyway.
    return step.ready.then(release, release);
  }

  /** On `connect`: the step for `packet`, started now if no store asked for it. The gate forgets it. */
  take(packet: IConnackPacket): P | undefined {
    const step = this.stepFor(packet);
    this.current = undefined;
    return step;
  }

  private stepFor(packet: IConnackPacket): P | undefined {
    if (this.current?.packet === packet) return this.current.step;
    const step = this.start(packet);
    this.current = step ? { packet, step } : undefined;
    return step;
  }
}
