/**
 * The device's MQTT session with the platform: Alink CONNECT (fresh signature per attempt), reconnects with
 * jittered exponential backoff, explicit subscriptions after every CONNACK without a session, inbound messages
 * handed to one handler, and the `Uplink` the rest of the agent publishes through.
 *
 * MQTT.js keeps the packet stores and resends; this class owns when to reconnect. MQTT.js's own reconnect timer
 * is parked (a period of ~24 days that every `connect()` clears), because its fixed period cannot back off and
 * its CONNECT would reuse the first attempt's timestamp and password.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { connect as mqttConnect, IClientOptions, IConnackPacket, IDisconnectPacket, IPublishPacket, MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { AgentConfig } from '../config/load';
import type { UpstreamLimitsSection } from '../config/schema';
import type { Secret } from '../config/secret';
import type { InboundMessage, MessageProperties, PublishOptions, PublishReceipt, Uplink } from '../transport';
import { Backoff } from './backoff';
import { classifyError, describeCause, DisconnectCause, SESSION_TAKEN_OVER } from './causes';
import { brokerConnectOptions } from './connect-options';
import { CredentialSource } from './credentials';
import { SessionError, SessionErrors } from './errors';
import { UpstreamLimits } from './limits';

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

/** A topic filter to subscribe. QoS 2 is not supported by the platform. */
export interface Subscription {
  topic: string;
  qos: 0 | 1;
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
   * Sends through this client from now on. `beforeSending` is the session's subscribe step: the store calls it on
   * every new connection, inside MQTT.js's CONNACK handling, and sends (or lets MQTT.js re-send) nothing on that
   * connection until it settles (the outbox does this through its in-flight store).
   */
  attach(client: MqttClient, beforeSending?: () => Promise<void>): void;
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
}

export interface SessionEvents {
  state: [SessionStateChange];
  /** A problem that does not end the session, e.g. a subscription refused after a reconnect. */
  warning: [SessionError];
}

/** Longest period setInterval accepts; MQTT.js's own reconnect timer is parked at it (see the file comment). */
const PARKED_RECONNECT_PERIOD_MS = 2 ** 31 - 1;
const EXT_RRPC_PREFIX = '/ext/rrpc/';
/** A connection closed by the server this many times in a row, each soon after CONNACK, means a duplicate login. */
const KICKS_BEFORE_DUPLICATE_LOGIN = 2;

const noop = () => undefined;

/** A CONNACK whose subscriptions are under way. */
interface Prepared {
  packet: IConnackPacket;
  generation: number;
  sessionPresent: boolean;
  subscribing: Promise<void>;
}

export class Session extends EventEmitter<SessionEvents> implements Uplink {
  private readonly client: MqttClient;
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private readonly credentials: CredentialSource;
  private readonly limits: UpstreamLimits;
  private readonly protocolVersion: 4 | 5;
  private readonly desired = new Map<string, 0 | 1>();
  /** What the current connection is subscribed to. */
  private subscribed = new Map<string, 0 | 1>();
  private handler: InboundHandler | undefined;

  private currentState: SessionState = 'idle';
  private lastErr: Error | undefined;
  /** Bumped on every CONNACK and close; async work started for an older connection is ignored. */
  private generation = 0;
  private attemptInFlight = false;
  private connectedAt: number | undefined;
  private everSubscribed = false;
  private attemptError: Error | undefined;
  private serverDisconnectReason: number | undefined;
  private shortLivedInARow = 0;
  /** The cause last logged; cleared once the connection is healthy again. Logs follow its changes only. */
  private episode: DisconnectCause | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private stableTimer: NodeJS.Timeout | undefined;
  private firstAttempt: { resolve(o: ConnectOutcome): void; reject(e: Error): void } | undefined;
  private stopping = false;
  private stopPromise: Promise<void> | undefined;
  private corked = false;
  /** The last CONNACK received, seen before MQTT.js handles it (the durable store's gate runs inside that handling). */
  private lastConnack: IConnackPacket | undefined;
  /** The subscriptions started for the current CONNACK, by the store's gate or by `connect`. */
  private prepared: Prepared | undefined;

  constructor(private readonly opts: SessionOptions) {
    super();
    this.log = opts.logger;
    this.protocolVersion = opts.broker.protocolVersion;
    this.limits = new UpstreamLimits(opts.limits);
    this.backoff = new Backoff({ initialMs: opts.broker.reconnect.initialMs, maxMs: opts.broker.reconnect.maxMs, ...(opts.random ? { random: opts.random } : {}) });
    this.credentials = new CredentialSource({
      ...opts.identity,
      secret: opts.secret,
      signMethod: opts.broker.signMethod,
      secureMode: opts.broker.secureMode,
    });
    const b = opts.broker;
    const mqttOptions: IClientOptions = {
      ...brokerConnectOptions(b, b.caFile ? readFileSync(b.caFile) : undefined),
      connectTimeout: b.connectTimeoutMs,
      manualConnect: true,
      reconnectPeriod: PARKED_RECONNECT_PERIOD_MS,
      // Subscriptions are the session's job, checked per SUBACK; MQTT.js's resubscribe would duplicate them.
      resubscribe: false,
      queueQoSZero: false,
      // A PINGREQ every keepalive costs nothing; moving the keepalive timer on every ACK costs on the hot path.
      reschedulePings: false,
      // MQTT.js formats a debug line per packet even when nobody listens; keep it only when DEBUG asks for it.
      ...(/mqttjs/.test(process.env.DEBUG ?? '') ? {} : { log: noop }),
      clientId: `${opts.identity.productKey}.${opts.identity.deviceName}`,
      ...opts.durable?.mqttOptions(),
    };
    this.client = mqttConnect(mqttOptions);
    // Subscribing from the store's gate, not on `connect`: MQTT.js re-sends its in-flight window before it emits
    // `connect`, and the outbox starts its backlog on it, so the platform's replies to those posts would arrive
    // before the SUBSCRIBE to their reply topics and be dropped (each post then times out although delivered).
    opts.durable?.attach(this.client, () => this.beforeSending());
    this.client.on('packetreceive', (p) => {
      if (p.cmd === 'connack') this.lastConnack = p;
    });
    this.client.on('connect', (p) => this.onConnack(p));
    this.client.on('close', () => this.onClose());
    this.client.on('error', (e) => {
      this.attemptError = e;
    });
    this.client.on('disconnect', (p: IDisconnectPacket) => {
      this.serverDisconnectReason = p.reasonCode ?? 0;
    });
    this.client.on('message', (topic, payload, packet) => this.deliver(topic, payload, packet));
  }

  /** The current connection state. */
  get state(): SessionState {
    return this.currentState;
  }

  /** The error that ended the last attempt or connection, if any. */
  get lastError(): Error | undefined {
    return this.lastErr;
  }

  /** True while CONNACK was received and the subscriptions are in place. */
  get connected(): boolean {
    return this.currentState === 'connected';
  }

  /** Sets the one handler every inbound PUBLISH goes to. */
  onMessage(handler: InboundHandler): void {
    this.handler = handler;
  }

  /**
   * Adds topic filters to the set the session keeps subscribed. When connected, subscribes the new ones now and
   * resolves after their SUBACK; rejects with AGENT_SUBSCRIBE_REFUSED naming the topic the broker refused.
   * Add `/ext/rrpc/...` filters before `connect()`: they switch on `ext=1` in the client id.
   */
  async subscribe(subs: readonly Subscription[]): Promise<void> {
    for (const s of subs) {
      const had = this.desired.get(s.topic);
      if (had === undefined || had < s.qos) this.desired.set(s.topic, s.qos);
    }
    if (this.currentState === 'connected') await this.subscribeMissing(this.generation);
  }

  /** The topic filters the session keeps subscribed. */
  subscriptions(): Subscription[] {
    return [...this.desired].map(([topic, qos]) => ({ topic, qos }));
  }

  /**
   * Starts connecting. Resolves after the first attempt: connected with every subscription in place, or failed
   * (the session then keeps reconnecting in the background). Rejects only when the broker refuses a subscription.
   */
  connect(): Promise<ConnectOutcome> {
    if (this.currentState !== 'idle') throw new Error(`connect() called in state ${this.currentState}`);
    const outcome = new Promise<ConnectOutcome>((resolve, reject) => {
      this.firstAttempt = { resolve, reject };
    });
    this.setState('connecting', {});
    this.attempt();
    return outcome;
  }

  /** Implements Uplink: checks the limits, then hands the message to the connection (QoS 1: queued while offline). */
  publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<PublishReceipt> {
    if (this.stopping) return Promise.reject(SessionErrors.stopped(topic));
    const qos = opts.qos;
    // QoS 0 is not queued: what it carries (RRPC answers, replies) is stale by the time the link is back.
    if (qos === 0 && !this.client.connected) return Promise.reject(SessionErrors.notConnected(topic));
    const refused = this.limits.check(topic, typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length);
    if (refused) return Promise.reject(refused);
    // MQTT 3.1.1 has no properties; they are dropped rather than half-sent.
    const props = this.protocolVersion === 5 ? opts.properties : undefined;
    if (qos === 1 && this.opts.durable) return this.opts.durable.publish(topic, payload, props || !opts.properties ? opts : { ...opts, properties: undefined });
    let settle!: (err?: Error) => void;
    const acked = new Promise<void>((resolve, reject) => {
      settle = (err) => (err ? reject(SessionErrors.publishFailed(topic, err)) : resolve());
    });
    // A caller that ignores `acked` must not turn a failed publish into an unhandled rejection.
    acked.catch(noop);
    this.client.publish(topic, payload, props ? { qos, properties: props } : { qos }, (err) => settle(err));
    return Promise.resolve({ acked });
  }

  /**
   * Stops: no more reconnects; when connected, waits up to `timeoutMs` for outstanding PUBACKs, then sends
   * DISCONNECT and closes. Without a durable outbox, messages still unacknowledged are lost (and counted in the log).
   */
  stop(timeoutMs = 2000): Promise<void> {
    this.stopPromise ??= this.shutdown(timeoutMs);
    return this.stopPromise;
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    this.stopping = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.stableTimer);
    if (this.currentState !== 'idle') await this.endClient(timeoutMs);
    this.settleFirstAttempt({ connected: false, error: new Error('stopped') });
    this.setState('stopped', {});
    this.log.info('session stopped');
  }

  private endClient(timeoutMs: number): Promise<void> {
    const client = this.client;
    const unacked = () => Object.values(client.outgoing).filter((o) => !o.volatile).length;
    const connected = client.connected;
    if (!connected && unacked() > 0) this.log.warn({ unacked: unacked(), durable: !!this.opts.durable }, 'stopped while offline with QoS 1 messages not yet sent');
    return new Promise<void>((resolve) => {
      // MQTT.js's graceful end waits for every PUBACK, and a half-dead socket can hold it forever: the bound.
      const timer = setTimeout(() => {
        this.log.warn({ unacked: unacked(), durable: !!this.opts.durable }, 'closing with QoS 1 messages the broker had not acknowledged');
        client.stream?.destroy();
        resolve();
      }, timeoutMs);
      client.end(!connected, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private attempt(): void {
    if (this.stopping) return;
    const ext = [...this.desired.keys()].some((t) => t.startsWith(EXT_RRPC_PREFIX));
    const creds = this.credentials.next(ext);
    const o = this.client.options;
    o.clientId = creds.clientId;
    o.username = creds.username;
    o.password = creds.password;
    this.attemptInFlight = true;
    this.attemptError = undefined;
    this.serverDisconnectReason = undefined;
    this.log.debug({ clientId: creds.clientId, attempt: this.backoff.attempts }, 'connecting');
    this.client.connect();
  }

  /**
   * The durable store's gate: runs inside MQTT.js's CONNACK handling (connected, nothing re-sent yet) and
   * resolves once the subscriptions are in place (SUBACK received) or failed; `onConnack` reports the outcome.
   */
  private beforeSending(): Promise<void> {
    const packet = this.lastConnack;
    const p = packet ? this.prepare(packet) : undefined;
    return p ? p.subscribing.then(noop, noop) : Promise.resolve();
  }

  /** Starts the subscriptions for `packet`'s connection, once per CONNACK (the gate and `connect` both ask). */
  private prepare(packet: IConnackPacket): Prepared | undefined {
    if (this.stopping) return undefined;
    if (this.prepared?.packet === packet && this.prepared.generation === this.generation) return this.prepared;
    const generation = ++this.generation;
    this.connectedAt = Date.now();
    const socket = this.client.stream as Partial<Socket>;
    // Replies are small; without this each one can wait on Nagle's algorithm for the previous ACK.
    socket.setNoDelay?.(true);
    socket.prependListener?.('data', () => this.corkUntilImmediate(socket));
    const sessionPresent = packet.sessionPresent === true;
    // A kept session still has the old subscriptions; the first CONNACK of this process subscribes anyway,
    // because what this run needs may differ from what the last run left behind.
    if (!sessionPresent || !this.everSubscribed) this.subscribed = new Map();
    else this.subscribed = new Map(this.desired);
    const subscribing = this.subscribeMissing(generation);
    // Handled in onConnack; a connection that closes before `connect` never gets there.
    subscribing.catch(noop);
    this.prepared = { packet, generation, sessionPresent, subscribing };
    return this.prepared;
  }

  private onConnack(packet: IConnackPacket): void {
    const p = this.prepare(packet);
    this.prepared = undefined;
    if (!p) return;
    const { generation, sessionPresent } = p;
    p.subscribing.then(
      () => this.becameReady(generation, sessionPresent),
      (err: Error) => {
        if (generation !== this.generation) return;
        const e = err instanceof SessionError ? err : SessionErrors.subscribeFailed([...this.desired.keys()], err);
        this.lastErr = e;
        this.log.error({ err: e.message, code: e.code }, 'subscription failed');
        if (this.firstAttempt) this.rejectFirstAttempt(e);
        else this.emit('warning', e);
        this.becameReady(generation, sessionPresent);
      },
    );
  }

  private becameReady(generation: number, sessionPresent: boolean): void {
    if (generation !== this.generation || this.stopping) return;
    const first = !this.everSubscribed;
    this.everSubscribed = true;
    const line = { attempts: this.backoff.attempts, sessionPresent, subscriptions: this.desired.size };
    // While a duplicate login is suspected every attempt connects and is kicked again: one line per episode.
    if (this.episode === 'kicked') this.log.debug(line, 'connected (duplicate login still suspected)');
    else if (first || this.episode !== undefined) this.log.info(line, first ? 'connected' : 'reconnected');
    if (this.episode !== 'kicked') this.episode = undefined;
    this.stableTimer = setTimeout(() => this.onStable(), this.opts.broker.reconnect.stableMs);
    this.stableTimer.unref();
    this.setState('connected', {});
    this.settleFirstAttempt({ connected: true });
  }

  /**
   * Holds the socket's writes from the moment a chunk arrives until the end of this turn of the event loop, so
   * the PUBACKs, replies and posts that the chunk's messages cause leave in one write instead of one each.
   */
  private corkUntilImmediate(socket: Partial<Socket>): void {
    if (this.corked || !socket.cork || !socket.uncork) return;
    this.corked = true;
    socket.cork();
    setImmediate(() => {
      this.corked = false;
      socket.uncork?.();
    });
  }

  private onStable(): void {
    this.backoff.reset();
    this.shortLivedInARow = 0;
    if (this.episode === 'kicked') {
      this.log.info('connection stable again; the duplicate login has stopped');
      this.episode = undefined;
    }
  }

  /** Subscribes every desired filter the current connection lacks, until none is missing. */
  private async subscribeMissing(generation: number): Promise<void> {
    for (;;) {
      const missing = [...this.desired].filter(([t, q]) => (this.subscribed.get(t) ?? -1) < q);
      if (missing.length === 0 || generation !== this.generation) return;
      await this.sendSubscribe(missing);
      if (generation !== this.generation) return;
      for (const [t, q] of missing) this.subscribed.set(t, q);
    }
  }

  private sendSubscribe(subs: [string, 0 | 1][]): Promise<void> {
    const map: Record<string, { qos: 0 | 1 }> = {};
    for (const [topic, qos] of subs) map[topic] = { qos };
    return new Promise<void>((resolve, reject) => {
      this.client.subscribe(map, {}, (err, _granted, packet) => {
        const codes = packet && 'granted' in packet ? (packet.granted as number[]) : undefined;
        const refusedAt = codes?.findIndex((c) => c >= 0x80) ?? -1;
        const refused = subs[refusedAt];
        if (refused && codes) return reject(SessionErrors.subscribeRefused(refused[0], codes[refusedAt] as number));
        if (err) return reject(SessionErrors.subscribeFailed(subs.map(([t]) => t), err));
        resolve();
      });
    });
  }

  private onClose(): void {
    if (!this.attemptInFlight) return;
    this.attemptInFlight = false;
    this.generation += 1;
    clearTimeout(this.stableTimer);
    if (this.stopping) return;
    const now = Date.now();
    let cause: DisconnectCause;
    let error = this.attemptError;
    if (this.connectedAt !== undefined) {
      const lifetime = now - this.connectedAt;
      this.connectedAt = undefined;
      this.shortLivedInARow = lifetime < this.opts.broker.reconnect.stableMs ? this.shortLivedInARow + 1 : 0;
      if (this.serverDisconnectReason === SESSION_TAKEN_OVER || this.shortLivedInARow >= KICKS_BEFORE_DUPLICATE_LOGIN) {
        cause = 'kicked';
        error = new Error(
          this.serverDisconnectReason === SESSION_TAKEN_OVER
            ? 'the broker disconnected this session: session taken over (0x8e)'
            : `the broker closed ${this.shortLivedInARow} connections in a row within ${this.opts.broker.reconnect.stableMs} ms of CONNACK`,
        );
      } else if (this.serverDisconnectReason !== undefined) {
        cause = 'server';
        error = new Error(`the broker sent DISCONNECT with reason code 0x${this.serverDisconnectReason.toString(16)}`);
      } else {
        cause = error ? classifyError(error, this.protocolVersion) : 'network';
        error ??= new Error('connection lost');
      }
    } else {
      cause = error ? classifyError(error, this.protocolVersion) : 'network';
      error ??= new Error('connection closed before CONNACK');
    }
    this.lastErr = error;
    const attempts = this.backoff.attempts + 1;
    const retryInMs = this.backoff.next();
    if (cause !== this.episode) {
      const line = { cause, err: error.message, retryInMs, attempts };
      if (cause === 'auth' || cause === 'tls' || cause === 'kicked') this.log.error(line, describeCause(cause));
      else this.log.warn(line, describeCause(cause));
      this.episode = cause;
    } else {
      this.log.debug({ cause, err: error.message, retryInMs, attempts }, 'attempt failed');
    }
    this.setState('reconnecting', { cause, error, retryInMs });
    this.settleFirstAttempt({ connected: false, cause, error });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.attempt();
    }, retryInMs);
  }

  private deliver(topic: string, payload: Buffer, packet: IPublishPacket): void {
    const handler = this.handler;
    if (!handler) {
      this.log.warn({ topic }, 'message received before a handler was set; dropped');
      return;
    }
    const msg: InboundMessage = { topic, payload, qos: packet.qos };
    const p = packet.properties;
    if (p) {
      const props: MessageProperties = {};
      if (p.responseTopic !== undefined) props.responseTopic = p.responseTopic;
      if (p.correlationData !== undefined) props.correlationData = p.correlationData;
      if (p.userProperties !== undefined) props.userProperties = p.userProperties;
      if (p.contentType !== undefined) props.contentType = p.contentType;
      msg.properties = props;
    }
    try {
      const r = handler(msg);
      if (r) r.catch((err: unknown) => this.log.error({ err, topic }, 'inbound handler rejected'));
    } catch (err) {
      this.log.error({ err, topic }, 'inbound handler threw');
    }
  }

  private settleFirstAttempt(o: ConnectOutcome): void {
    const f = this.firstAttempt;
    this.firstAttempt = undefined;
    f?.resolve(o);
  }

  private rejectFirstAttempt(e: Error): void {
    const f = this.firstAttempt;
    this.firstAttempt = undefined;
    f?.reject(e);
  }

  private setState(state: SessionState, extra: Partial<Omit<SessionStateChange, 'state' | 'previous' | 'attempts'>>): void {
    const previous = this.currentState;
    if (previous === state && state !== 'reconnecting') return;
    this.currentState = state;
    this.emit('state', { state, previous, attempts: this.backoff.attempts, ...extra });
  }
}
