/**
 * The session's public types: its states and events, its options, and what it needs of a durable store.
 */
import type { IClientOptions, MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { AgentConfig } from '../config/load';
import type { UpstreamLimitsSection } from '../config/schema';
import type { Secret } from '../config/secret';
import type { InboundMessage, Uplink } from '../transport';
import type { DisconnectCause } from './causes';
import type { SessionError } from './errors';

/** `idle` until `connect()`; `stopped` after `stop()`. */
export type SessionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'stopped';

/** Emitted as `state` on every change. */
export interface SessionStateChange {
  state: SessionState;
  previous: SessionState;
  /** Why the session is reconnecting. */
  cause?: DisconnectCause;
  error?: Error;
  /** Delay before the next attempt, when reconnecting. */
  retryInMs?: number;
  /** Failed attempts since the connection was last stable. */
  attempts: number;
}

/** How the first connection attempt ended (what `connect()` resolves with). */
export interface ConnectOutcome {
  connected: boolean;
  cause?: DisconnectCause;
  error?: Error;
}

/** Receives every inbound PUBLISH. Must not throw; a rejection is logged. */
export type InboundHandler = (msg: InboundMessage) => void | Promise<void>;

/**
 * A durable store for QoS 1 publishes that works under the session's MQTT.js client: agent/outbox's `Outbox`
 * fits it. QoS 1 publishes go to its `publish` once the session's limits accepted them.
 */
export interface DurableUplink extends Uplink {
  /** MQTT.js options the store needs on the client (its in-flight store and packet-id provider). */
  mqttOptions(): Pick<IClientOptions, 'outgoingStore' | 'messageIdProvider'>;
  /**
   * Sends through this client from now on. `gate` is the session's connect gate (`connect-gate.ts`): the store asks
   * `gate.hold(ids)` on every new connection, inside MQTT.js's CONNACK handling, and sends (or lets MQTT.js re-send)
   * nothing on that connection until the promise settles (the outbox does this through its in-flight store).
   */
  attach(client: MqttClient, gate?: { hold(heldIds: number[]): Promise<void> | undefined }): void;
  /** Keeps messages on the topics `hold` names out of the connection until `release` (agent/outbox). */
  setHold?(hold: ((topic: string) => boolean) | undefined, onRefused?: (topic: string, reasonCode: number) => void): void;
  release?(): void;
  /** Keeps acknowledged messages for a moment under the key `keyOf` gives their topic (agent/outbox/recent-acks.ts). */
  keepAcked?(keyOf: ((topic: string) => string | undefined) | undefined): void;
  /** Queues again what was acknowledged under `key` a moment ago; returns how many. */
  resendAcked?(key: string): number;
}

export interface SessionOptions {
  identity: { productKey: string; deviceName: string; clientId?: string };
  secret: Secret;
  broker: AgentConfig['broker'];
  limits: UpstreamLimitsSection;
  logger: Logger;
  /** Uniform [0, 1) for the backoff draw; tests pin it. */
  random?: () => number;
  /** Where QoS 1 publishes become durable (the outbox); without it they wait in MQTT.js's memory while offline. */
  durable?: DurableUplink;
  /** The clock CONNECT signs its timestamp with (the agent's NTP-corrected clock); `Date.now` when absent. */
  now?: () => number;
}

export interface SessionEvents {
  state: [SessionStateChange];
  /** A problem that does not end the session, e.g. a subscription refused after a reconnect. */
  warning: [SessionError];
}
