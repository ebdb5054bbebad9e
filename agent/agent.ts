/**
 * The `Agent` value: one device's runtime, composed from its configuration. Data flows one way:
 * session (MQTT) → router → validation (Thing Model) → handler plugins → reply through the session's Uplink.
 *
 * Nothing here is global: two agents run side by side in one process (tests do).
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { compileThingModel, loadThingModelFile, type CompiledThingModel } from '../thing-model';
import { loadPlugins, type PluginConfig, type PluginHost } from './plugins/loader';
import { createRouter, type Router, type RouterObserver } from './router';
import { loadConfig, type AgentConfig } from './config/load';
import { restartOnlyChanges } from './config/reload';
import type { AgentConfigInput } from './config/schema';
import { createAgentLogger, setLogLevel } from './config/logger';
import { Session, type SessionStateChange } from './session/session';
import type { DisconnectCause } from './session/causes';
import type { AgentMetrics } from './health/metrics';
import type { HealthServerAddress } from './health/server';
import { displayUrl, formatStatus } from './lifecycle/status';
import { AgentHealth, loadMetrics } from './wiring/health';
import { MeteredUplink } from './wiring/metered-uplink';
import { DeviceChannels } from './wiring/channels';
import { AgentClock } from './clock/clock';
import { openDefaultStores, type AgentStores } from './wiring/stores';
import { agedPostPolicy } from './upstream/history';
import { createAgentGateway, type AgentGateway } from './wiring/gateway';

export type { AgentStores, OutboxDepth } from './wiring/stores';

/** The agent's life, from `create` to `stop`; the middle three follow the session. */
export type AgentState = 'created' | 'starting' | 'connecting' | 'connected' | 'reconnecting' | 'stopping' | 'stopped';

/** Emitted as `state` on every change (reconnect attempts included: `retryInMs` says when the next one runs). */
export interface AgentStateChange {
  state: AgentState;
  previous: AgentState;
  cause?: DisconnectCause;
  error?: Error;
  retryInMs?: number;
}

export interface AgentEvents {
  state: [AgentStateChange];
  /**
   * Once per `start()`, when it resolves: the agent is running. `connected` says whether the first attempt
   * reached the broker (a gateway that boots offline is running too, and keeps reconnecting).
   */
  ready: [{ connected: boolean }];
  /** Problems that do not stop the agent (a subscription refused after a reconnect, a failed reload). Logged when nobody listens. */
  error: [Error];
}

export interface AgentOptions {
  /** Defaults to a pino logger on stdout at the configured `log.level`. */
  logger?: Logger;
  /** Where `device.secretEnv` is read; defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** In-process plugins added after the configured `handlers` (embedding, tests). */
  plugins?: PluginConfig[];
  /** Metric hooks of the router; default the agent's {@link AgentMetrics} when it has one. */
  observer?: RouterObserver;
  /**
   * Where the agent counts (messages in and out, reconnects, connection state, outbox depth and drops). Default:
   * a registry of its own when `health.enabled`, else none.
   */
  metrics?: AgentMetrics;
  /**
   * Opens the agent's stores once the configuration is known. Default: the durable outbox under the session's QoS 1
   * publishes and the inbox that answers redelivered requests, both in `{dataDir}/agent.db` (agent/wiring/stores.ts).
   * Return `{}` for an agent that keeps nothing on disk. `close` runs at the end of `stop()`, after the connection
   * is closed.
   */
  stores?: (config: AgentConfig, logger: Logger) => AgentStores | Promise<AgentStores>;
  /** Uniform [0, 1) for the reconnect backoff draw; tests pin it. */
  random?: () => number;
  /** The system clock the agent corrects with NTP; `Date.now` by default (tests inject a wrong one). */
  now?: () => number;
}

/** Everything `Agent.create` builds before anything connects. */
interface Parts {
  config: AgentConfig;
  logger: Logger;
  model: CompiledThingModel;
  plugins: PluginHost;
  stores: AgentStores;
  health: AgentHealth;
  clock: AgentClock;
}

export class Agent extends EventEmitter<AgentEvents> {
  /** The validated configuration (the secret inside prints as `[redacted]`). */
  readonly config: AgentConfig;
  readonly logger: Logger;
  readonly model: CompiledThingModel;
  readonly plugins: PluginHost;
  readonly session: Session;
  readonly router: Router;
  /** The NTP-corrected clock: `clock.now()` and its offset from the system clock. */
  readonly clock: AgentClock;
  /** Connection state, metrics and the health listener. */
  readonly health: AgentHealth;
  /** The sub-devices behind this gateway (docs/protocol/gateway.md); idle when none is configured or driven. */
  readonly gateway: AgentGateway;
  private currentState: AgentState = 'created';
  private startPromise: Promise<void> | undefined;
  private stopPromise: Promise<void> | undefined;
  private readonly configSource: string | undefined;
  /** Where `device.secretEnv` was read at start; a reload reads it there again, not in `process.env`. */
  private readonly env: NodeJS.ProcessEnv | undefined;
  private readonly stores: AgentStores;
  /** Remote configuration, static tags, log upload (agent/wiring/channels.ts). */
  private readonly channels: DeviceChannels;

  /**
   * Loads and checks everything that can be wrong before connecting: the configuration (ConfigError), the
   * Thing Model (TslError), the stores (`{dataDir}/agent.db` unless `opts.stores`; OutboxStorageError) and the
   * plugins (PluginError). Each error's message is one line naming the culprit; nothing stays open after one.
   */
  static async create(configOrPath: string | AgentConfigInput, opts: AgentOptions = {}): Promise<Agent> {
    const config = loadConfig(configOrPath, opts.env ? { env: opts.env } : {});
    const logger = opts.logger ?? createAgentLogger({ level: config.log.level });
    const raw = loadThingModelFile(config.thingModel.path);
    const model = compileThingModel(raw, { enforceStep: config.thingModel.enforceStep, partialStructs: config.thingModel.partialStructs });
    const identity = { productKey: config.device.productKey, deviceName: config.device.deviceName };
    let stores: AgentStores = {};
    const metrics = await loadMetrics(config.health, opts.metrics);
    const clock = new AgentClock(opts.now ?? Date.now, config.clock.farOffMs);
    const health = new AgentHealth({ brokerUrl: config.broker.url, health: config.health, logger, ...(metrics ? { metrics } : {}), depth: () => stores.depth?.(), clock: () => clock.status() });
    stores = opts.stores
      ? await opts.stores(config, logger)
      : openDefaultStores(config, logger, {
          onDrop: (d) => health.metrics?.outboxDrop(d.messageClass, d.reason),
          aged: agedPostPolicy({
            model,
            identity,
            afterMs: config.outbox.history.afterMs,
            policy: config.outbox.history.policy,
            // The outbox stamps acceptance with Date.now; the corrected clock says where that moment really was.
            toPlatformTime: (systemMs) => systemMs + (clock.now() - Date.now()),
            logger: logger.child({ component: 'history-post' }),
          }),
        });
    let plugins: PluginHost;
    try {
      plugins = await loadPlugins([...structuredClone(config.handlers), ...(opts.plugins ?? [])], {
        model,
        identity,
        logger,
        dataDir: config.dataDir,
        configDir: config.configDir,
        ...(stores.state ? { state: stores.state } : {}),
      });
    } catch (err) {
      await stores.close?.();
      throw err;
    }
    try {
      return new Agent({ config, logger, model, plugins, stores, health, clock }, opts, typeof configOrPath === 'string' ? configOrPath : undefined);
    } catch (err) {
      await stores.close?.();
      throw err;
    }
  }

  private constructor(parts: Parts, opts: AgentOptions, configSource: string | undefined) {
    super();
    const { config, logger, model, plugins, stores, health, clock } = parts;
    this.clock = clock;
    this.config = config;
    this.logger = logger;
    this.model = model;
    this.plugins = plugins;
    this.configSource = configSource;
    this.env = opts.env;
    this.stores = stores;
    this.health = health;
    const identity = { productKey: config.device.productKey, deviceName: config.device.deviceName };
    this.session = new Session({
      identity: { ...identity, ...(config.device.clientId ? { clientId: config.device.clientId } : {}) },
      secret: config.device.secret,
      broker: config.broker,
      limits: config.limits.upstream,
      logger: logger.child({ component: 'session' }),
      ...(opts.random ? { random: opts.random } : {}),
      ...(stores.durable ? { durable: stores.durable } : {}),
      now: () => clock.now(),
    });
    const metrics = health.metrics;
    const observer = opts.observer ?? metrics;
    this.router = createRouter({
      identity,
      model,
      uplink: metrics ? new MeteredUplink(this.session, metrics) : this.session,
      plugins,
      rrpc: config.rrpc,
      logger: logger.child({ component: 'router' }),
      asyncTimeoutMs: config.deadlines.asyncMs,
      customTopicTimeoutMs: config.deadlines.customTopicMs,
      upstream: { replyTimeoutMs: config.upstream.replyTimeoutMs, durable: stores.durable !== undefined },
      postAfterSet: config.postAfterSet,
      clock,
      state: { ...config.deviceState, ntp: config.clock.ntp, ntpIntervalMs: config.clock.intervalMs },
      ...(observer ? { observer } : {}),
      ...(stores.replyCache ? { replyCache: stores.replyCache } : {}),
    });
    this.channels = new DeviceChannels({
      identity,
      config,
      router: this.router,
      plugins,
      session: this.session,
      logger,
      ...(metrics ? { uplink: new MeteredUplink(this.session, metrics), otaObserver: metrics } : {}),
      ...(stores.ota ? { otaStore: stores.ota } : {}),
    });
    const ota = this.channels.ota;
    if (ota) health.reportOta(() => ota.status());
    this.gateway = createAgentGateway({ identity, config, plugins, session: this.session, uplink: metrics ? new MeteredUplink(this.session, metrics) : this.session, router: this.router, stores, logger, clock, ...(observer ? { observer } : {}), ...(metrics ? { otaObserver: metrics } : {}) });
    const gw = this.gateway;
    if (gw.enabled) health.reportGateway(() => ({ configured: gw.records.size, byState: gw.counts() }), gw.ota?.configured ? () => gw.otaStatus() : undefined);
    this.session.onMessage((msg) => gw.handle(msg) ?? this.router.handle(msg));
    // Health first: listeners of the agent's `state` (the STATUS= line) then read the new state.
    this.session.on('state', (s) => this.health.follow(s));
    this.session.on('state', (s) => this.followSession(s));
    this.session.on('state', (s) => s.state === 'connected' && this.router.connected());
    this.session.on('state', (s) => (s.state === 'connected' ? this.gateway.onConnected() : s.previous === 'connected' && this.gateway.onDisconnected()));
    this.session.on('warning', (e) => this.reportError(e));
  }

  /** Where the agent is in its life. */
  get state(): AgentState {
    return this.currentState;
  }

  /** The error that ended the last connection attempt or connection (for health reports). */
  get lastError(): Error | undefined {
    return this.session.lastError;
  }

  /** Where the agent counts; present when `health.enabled` or given in the options. */
  get metrics(): AgentMetrics | undefined {
    return this.health.metrics;
  }

  /** Where /healthz and /metrics listen, once `start()` has started them. */
  get healthAddress(): HealthServerAddress | undefined {
    return this.health.address;
  }

  /** QoS 1 messages in the outbox not yet acknowledged; undefined without an outbox. */
  get outboxPending(): number | undefined {
    return this.health.outboxPending();
  }

  /**
   * True while the agent is working: starting, connected, or connecting and reconnecting (credentials refused
   * included: it keeps trying). False before `start()` and from `stop()` on. What gates systemd's watchdog.
   */
  isAlive(): boolean {
    const s = this.currentState;
    return s === 'starting' || s === 'connecting' || s === 'connected' || s === 'reconnecting';
  }

  /** One line for people (systemd's STATUS=): `connected to mqtt://host:1883, outbox 0 pending, last error: none`. */
  statusLine(): string {
    const pending = this.health.outboxPending();
    const subDevices = this.gateway.enabled ? { online: this.gateway.counts().online, total: this.gateway.records.size } : undefined;
    return formatStatus({ ...this.health.connection.snapshot(), ...(pending !== undefined ? { outboxPending: pending } : {}), ...(subDevices ? { subDevices } : {}) });
  }

  /**
   * Starts the plugins and connects. Resolves when the agent is running: subscriptions in place after the first
   * successful connection, or after the first attempt failed (the agent then keeps reconnecting in the background).
   * Rejects (and stops what it started) when a plugin fails to start or the broker refuses a subscription.
   */
  start(): Promise<void> {
    this.startPromise ??= this.run();
    return this.startPromise;
  }

  private async run(): Promise<void> {
    if (this.currentState !== 'created') throw new Error(`start() called in state ${this.currentState}`);
    this.setState({ state: 'starting' });
    const { productKey, deviceName } = this.config.device;
    this.logger.info(
      { productKey, deviceName, broker: `${this.config.broker.scheme}://${this.config.broker.host}:${this.config.broker.port}`, protocolVersion: this.config.broker.protocolVersion, plugins: this.plugins.names },
      'agent starting',
    );
    try {
      await this.health.start();
    } catch (err) {
      // A taken port must not keep the device's data from flowing; the error names the address.
      this.logger.error({ err }, 'health endpoint not started; running without it');
      if (this.listenerCount('error') > 0) this.emit('error', err as Error);
    }
    try {
      await this.session.subscribe(this.router.subscriptions());
      await this.plugins.start(this.router.upstream, undefined, this.gateway.api);
      await Promise.all([this.channels.boot(), this.gateway.boot()]);
      // A stop (SIGTERM) during the boot steps has stopped the session: connecting now would throw.
      if (this.stopPromise) return;
      const outcome = await this.session.connect();
      if (this.stopPromise) return;
      if (!outcome.connected) this.logger.warn({ cause: outcome.cause }, 'broker not reachable at start; running offline and reconnecting');
      this.logReady(outcome.connected);
      this.emit('ready', { connected: outcome.connected });
    } catch (err) {
      this.logger.error({ err }, 'agent failed to start');
      await this.stop();
      throw err;
    }
  }

  /**
   * The SIGTERM path: stops taking messages, lets in-flight handlers finish (up to `shutdown.drainTimeoutMs`,
   * then answers for them), stops the plugins, disconnects cleanly (waiting up to `shutdown.disconnectTimeoutMs`
   * for PUBACKs), then closes the stores and the health listener. Safe to call more than once.
   */
  stop(): Promise<void> {
    this.stopPromise ??= this.shutdown();
    return this.stopPromise;
  }

  private async shutdown(): Promise<void> {
    this.setState({ state: 'stopping' });
    const { drainTimeoutMs, disconnectTimeoutMs } = this.config.shutdown;
    const channels = this.channels.stop();
    await Promise.all([this.router.drain(drainTimeoutMs), this.gateway.stop(drainTimeoutMs)]);
    await channels;
    await this.plugins.stop();
    await this.session.stop(disconnectTimeoutMs);
    try {
      await this.stores.close?.();
    } catch (err) {
      this.logger.error({ err }, 'closing the stores failed');
    }
    await this.health.stop();
    this.setState({ state: 'stopped' });
    this.logger.info('agent stopped');
  }

  /**
   * SIGHUP: re-reads the configuration (the file the agent was created from, or `configOrPath`) with the
   * environment given at start, validates it, and applies the keys the schema marks `reload: 'live'` (`log.level`
   * and the handlers' options). Changes under `reload: 'restart'` keys are named in a warning (names only, never
   * values). A bad file leaves everything as it was and rejects with its one-line error.
   *
   * @returns the restart-only keys that changed (e.g. `broker.keepalive`, `device.secret`).
   */
  async reload(configOrPath?: string | AgentConfigInput): Promise<string[]> {
    const source = configOrPath ?? this.configSource;
    if (source === undefined) throw new Error('reload() needs a configuration: the agent was created from an object');
    const next = loadConfig(source, this.env ? { env: this.env } : {});
    const restartNeeded = restartOnlyChanges(this.config, next);
    setLogLevel(this.logger, next.log.level);
    await this.plugins.reload(structuredClone(next.handlers));
    // `logLevel`, not `level`: pino writes its own `level` into every line, and a second one makes invalid-ish JSON
    this.logger.info({ logLevel: next.log.level, plugins: this.plugins.names }, 'configuration reloaded');
    if (restartNeeded.length) this.logger.warn({ keys: restartNeeded }, 'these settings changed but apply only after a restart');
    return restartNeeded;
  }

  /** The one line that says the agent is up, and to what: broker and device, never the secret. */
  private logReady(connected: boolean): void {
    const { productKey, deviceName } = this.config.device;
    const broker = displayUrl(this.config.broker.url);
    this.logger.info(
      { broker, productKey, deviceName, clientId: this.config.device.clientId ?? `${productKey}.${deviceName}`, protocolVersion: this.config.broker.protocolVersion, connected, plugins: this.plugins.names },
      connected ? `agent ready: ${productKey}/${deviceName} connected to ${broker}` : `agent ready: ${productKey}/${deviceName} offline, reconnecting to ${broker}`,
    );
  }

  private followSession(s: SessionStateChange): void {
    if (s.state === 'idle' || this.currentState === 'stopping' || this.currentState === 'stopped') return;
    if (s.state === 'stopped') return;
    this.setState({
      state: s.state,
      ...(s.cause ? { cause: s.cause } : {}),
      ...(s.error ? { error: s.error } : {}),
      ...(s.retryInMs !== undefined ? { retryInMs: s.retryInMs } : {}),
    });
  }

  private setState(change: Omit<AgentStateChange, 'previous'>): void {
    const previous = this.currentState;
    this.currentState = change.state;
    this.emit('state', { ...change, previous });
  }

  private reportError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else this.logger.error({ err: err.message }, 'agent error');
  }
}
