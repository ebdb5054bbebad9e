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
import type { PublishOptions, PublishReceipt, Uplink } from '../transport';
import { Backoff } from './backoff';
import { describeCause, type DisconnectCause } from './causes';
import { classifyClose, closeLogLevel } from './close-cause';
import { ConnectGate } from './connect-gate';
import { brokerConnectOptions } from './connect-options';
import { CredentialSource } from './credentials';
import { SessionError, SessionErrors } from './errors';
import { deliverTo } from './inbound';
import { publishQos0, publishViaMqttJs } from './publish-qos0';
import { tuneSocket } from './socket';
import { UpstreamLimits } from './limits';
import { SubscriptionBook, type Subscription } from './subscriptions';
import { sendSubscribe, sendUnsubscribe } from './subscribe-packets';

import type { ConnectOutcome, InboundHandler, SessionEvents, SessionOptions, SessionState, SessionStateChange } from './types';

export type { Subscription } from './subscriptions';
export type { ConnectOutcome, DurableUplink, InboundHandler, SessionEvents, SessionOptions, SessionState, SessionStateChange } from './types';

/** Longest period setInterval accepts; MQTT.js's own reconnect timer is parked at it (see the file comment). */
const PARKED_RECONNECT_PERIOD_MS = 2 ** 31 - 1;

const noop = () => undefined;

/** A CONNACK whose subscriptions are under way; `ready` settles when they are in place or failed. */
interface Prepared {
  generation: number;
  sessionPresent: boolean;
  ready: Promise<void>;
}

export class Session extends EventEmitter<SessionEvents> implements Uplink {
  private readonly client: MqttClient;
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private readonly credentials: CredentialSource;
  private readonly limits: UpstreamLimits;
  private readonly protocolVersion: 4 | 5;
  private readonly subs = new SubscriptionBook();
  private readonly gate: ConnectGate<Prepared>;
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
      ...(opts.now ? { now: opts.now } : {}),
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
      // MQTT.js's default pre-builds 65,536 two-byte Buffers for packet ids and lengths (~8 MB of heap, about
      // half the agent's footprint over a bare client) to save one 2-byte allocation per packet field.
      writeCache: false,
      clientId: `${opts.identity.productKey}.${opts.identity.deviceName}`,
      ...opts.durable?.mqttOptions(),
    };
    this.client = mqttConnect(mqttOptions);
    // Subscribing through the gate, not on `connect`: see connect-gate.ts.
    this.gate = new ConnectGate(this.client.messageIdProvider, (p) => this.prepare(p), this.log);
    opts.durable?.attach(this.client, this.gate);
    this.client.on('packetreceive', (p) => {
      if (p.cmd === 'connack') this.gate.connackReceived(p);
    });
    this.client.on('connect', (p) => this.onConnack(p));
    this.client.on('close', () => {
      this.gate.connectionClosed();
      this.onClose();
    });
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
    this.subs.add(subs);
    if (this.currentState === 'connected') await this.subscribeMissing(this.generation);
  }

  /**
   * Subscribes on the current connection only: not kept across reconnects (a sub-device's filters hold only while
   * its login through the gateway lasts, docs/protocol/gateway-traffic.md). Rejects when not connected or refused.
   */
  subscribeNow(subs: readonly Subscription[]): Promise<void> {
    if (this.currentState !== 'connected') return Promise.reject(SessionErrors.notConnected(subs[0]?.topic ?? ''));
    return sendSubscribe(this.client, subs.map((s) => [s.topic, s.qos]));
  }

  /** Drops filters of the current connection subscribed with {@link subscribeNow}. */
  unsubscribeNow(topics: readonly string[]): Promise<void> {
    return sendUnsubscribe(this.client, topics);
  }

  /** The topic filters the session keeps subscribed. */
  subscriptions(): Subscription[] {
    return this.subs.list();
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
    if (qos === 0) return publishQos0(this.client, topic, payload, props, this.protocolVersion);
    return publishViaMqttJs(this.client, topic, payload, qos, props);
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
    const creds = this.credentials.next(this.subs.wantsExtRrpc());
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
   * Starts the subscriptions for `packet`'s connection; the gate calls it once per CONNACK (from inside MQTT.js's
   * CONNACK handling when the durable store asks, else on `connect`), and `onConnack` reports the outcome.
   */
  private prepare(packet: IConnackPacket): Prepared | undefined {
    if (this.stopping) return undefined;
    const generation = ++this.generation;
    this.connectedAt = Date.now();
    tuneSocket(this.client.stream as Partial<Socket>);
    const sessionPresent = packet.sessionPresent === true;
    this.subs.newConnection(sessionPresent, !this.everSubscribed);
    const ready = this.subscribeMissing(generation);
    // Handled in onConnack; a connection that closes before `connect` never gets there.
    ready.catch(noop);
    return { generation, sessionPresent, ready };
  }

  private onConnack(packet: IConnackPacket): void {
    const p = this.gate.take(packet);
    if (!p) return;
    const { generation, sessionPresent } = p;
    p.ready.then(
      () => this.becameReady(generation, sessionPresent),
      (err: Error) => {
        if (generation !== this.generation) return;
        const e = err instanceof SessionError ? err : SessionErrors.subscribeFailed(this.subs.topics(), err);
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
    const line = { attempts: this.backoff.attempts, sessionPresent, subscriptions: this.subs.size };
    // While a duplicate login is suspected every attempt connects and is kicked again: one line per episode.
    if (this.episode === 'kicked') this.log.debug(line, 'connected (duplicate login still suspected)');
    else if (first || this.episode !== undefined) this.log.info(line, first ? 'connected' : 'reconnected');
    if (this.episode !== 'kicked') this.episode = undefined;
    this.stableTimer = setTimeout(() => this.onStable(), this.opts.broker.reconnect.stableMs);
    this.stableTimer.unref();
    this.setState('connected', {});
    this.settleFirstAttempt({ connected: true });
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
      const missing = this.subs.missing();
      if (missing.length === 0 || generation !== this.generation) return;
      await sendSubscribe(this.client, missing);
      if (generation !== this.generation) return;
      this.subs.confirmed(missing);
    }
  }

  private onClose(): void {
    if (!this.attemptInFlight) return;
    this.attemptInFlight = false;
    this.generation += 1;
    clearTimeout(this.stableTimer);
    if (this.stopping) return;
    const lifetimeMs = this.connectedAt === undefined ? undefined : Date.now() - this.connectedAt;
    this.connectedAt = undefined;
    const { cause, error, shortLivedInARow } = classifyClose({
      lifetimeMs,
      stableMs: this.opts.broker.reconnect.stableMs,
      shortLivedInARow: this.shortLivedInARow,
      serverDisconnectReason: this.serverDisconnectReason,
      attemptError: this.attemptError,
      protocolVersion: this.protocolVersion,
    });
    this.shortLivedInARow = shortLivedInARow;
    this.lastErr = error;
    const attempts = this.backoff.attempts + 1;
    const retryInMs = this.backoff.next();
    if (cause !== this.episode) {
      const line = { cause, err: error.message, retryInMs, attempts };
      this.log[closeLogLevel(cause)](line, describeCause(cause));
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
    deliverTo(this.handler, this.log, topic, payload, packet);
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
