/**
 * CloudSimulator: one local stand-in for IoT Platform — the cloud OpenAPI over HTTP and the platform's side of
 * Alink over MQTT (embedded aedes broker, a mosquitto it manages with the platform's rules, or a client on an
 * external MQTT 5 broker). Every instance is
 * self-contained; several can run in one process.
 *
 *   const sim = new CloudSimulator(loadConfigFile('simulator/simulator.config.json'));
 *   const { httpUrl, mqttUrl } = await sim.start();
 *   ...
 *   await sim.stop();
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { API_ACTIONS, Dispatcher } from './api';
import { validateConfig } from './config/load';
import type { SimulatorConfig, SimulatorConfigInput } from './config/schema';
import type { SimulatorEvents } from './events';
import { FileStore } from './http/files';
import { MemoryNonceStore, NonceStore } from './http/nonce-store';
import type { ScriptStoreOptions } from './scripts/store';
import { QpsLimiter } from './http/qps-limiter';
import { ApiHttpServer } from './http/server';
import { createLogger } from './logger';
import type { DeviceId } from './mqtt/acl';
import { EmbeddedBroker } from './mqtt/embedded-broker';
import { ExternalLink } from './mqtt/external-link';
import { ManagedBroker } from './mqtt/managed-broker';
import type { MqttLink } from './mqtt/link';
import { Platform } from './mqtt/platform';
import type { DeviceLogItem } from './mqtt/log-upload';
import { DeviceRecord, Registry } from './registry';
import { OtaService, type OtaOptions } from './ota/service';
import { DeviceReply, DeviceStateStore, DeviceStatus, EventRecord, PropertyValue } from './state/device-state';

export interface CloudSimulatorOptions {
  /** pino logger; default: JSON lines on stdout at config.log.level. */
  logger?: Logger;
  /** Wall clock (epoch ms) the API timestamp check compares against; tests replaying captured requests set it. */
  clock?: () => number;
  /** Where used signature nonces are remembered; default: in memory for 2 × the timestamp window. */
  nonceStore?: NonceStore;
  /** Folder relative TSL paths resolve against, when `config` is an object; default: the working directory. */
  baseDir?: string;
  /** Parse-script bounds (per-call time, worker heap) and, for bench/raw.ts's baseline only, another runner. */
  scripts?: ScriptStoreOptions;
  /** OTA knobs: the length of a job "minute" (timeouts, retries), URL lifetime, signMethod spelling. */
  ota?: OtaOptions;
}

export interface SimulatorUrls {
  httpUrl: string;
  mqttUrl: string;
}

export class CloudSimulator extends EventEmitter<SimulatorEvents> {
  readonly config: SimulatorConfig;
  readonly logger: Logger;
  private readonly registry: Registry;
  private readonly state: DeviceStateStore;
  private readonly platform: Platform;
  private readonly http: ApiHttpServer;
  private readonly link: MqttLink;
  /** Signed, expiring file URLs served by the HTTP listener (parse scripts, configuration files). */
  readonly files: FileStore;
  /** The OTA service: catalog, uploads, and the simulator's own controls (docs/protocol/ota-platform.md). */
  readonly ota: OtaService;
  private urls?: SimulatorUrls;
  private httpPort?: number;
  private pendingHttpUrl?: string;
  private starting?: Promise<SimulatorUrls>;

  /** Validates the config and loads every product's TSL; throws ConfigError naming the key. */
  constructor(config: SimulatorConfigInput | SimulatorConfig, options: CloudSimulatorOptions = {}) {
    super();
    this.config = validateConfig(config, { baseDir: options.baseDir });
    const cfg = this.config;
    this.logger = options.logger ?? createLogger(cfg.log.level);
    this.registry = new Registry(cfg);
    this.state = new DeviceStateStore(cfg.limits);
    this.files = new FileStore(() => this.urls?.httpUrl ?? this.pendingHttpUrl, options.clock ?? Date.now);
    this.ota = new OtaService({
      ...options.ota,
      files: this.files,
      registry: this.registry,
      logger: this.logger,
      baseUrl: () => this.urls?.httpUrl ?? this.pendingHttpUrl,
      ...(options.clock ? { now: options.clock } : {}),
    });
    this.platform = new Platform({
      ota: this.ota,
      files: this.files,
      ...(options.scripts ? { scripts: options.scripts } : {}),
      mode: cfg.mqtt.mode,
      registry: this.registry,
      state: this.state,
      events: this,
      logger: this.logger,
      downstreamQos: cfg.mqtt.downstreamQos,
      presenceWindowMs: cfg.mqtt.presenceWindowSeconds * 1000,
      gatewayLimits: cfg.gateway,
    });
    const rules = {
      host: cfg.mqtt.host,
      port: cfg.mqtt.port,
      maxPayloadBytes: cfg.mqtt.maxPayloadBytes,
      maxSubscriptions: cfg.mqtt.maxSubscriptions,
      keepaliveMin: cfg.mqtt.keepaliveMin,
      keepaliveMax: cfg.mqtt.keepaliveMax,
      serviceClients: cfg.mqtt.serviceClients,
      sink: this.platform,
      logger: this.logger,
    };
    if (cfg.mqtt.mode === 'embedded') {
      this.link = new EmbeddedBroker({
        ...rules,
        secretOf: (pk, dn) => this.registry.device(pk, dn)?.deviceSecret,
        disabled: (pk, dn) => !!this.registry.device(pk, dn)?.disabled,
        mayProxy: (gw, owner, use) => this.platform.mayProxy(gw, owner, use),
      });
    } else if (cfg.mqtt.mode === 'managed') {
      const managed = new ManagedBroker({ ...rules, devices: () => this.registry.allDevices() });
      this.registry.onChange = () => managed.writeRegistry();
      this.link = managed;
    } else {
      this.link = new ExternalLink({ url: cfg.mqtt.url!, clientId: cfg.mqtt.clientId, sink: this.platform, logger: this.logger });
    }
    this.platform.attach(this.link);
    const skew = cfg.http.timestampSkewSeconds;
    const dispatcher = new Dispatcher(API_ACTIONS, {
      registry: this.registry,
      platform: this.platform,
      state: this.state,
      cloudValidation: cfg.cloudValidation,
      maxPayloadBytes: cfg.mqtt.maxPayloadBytes,
      syncServiceTimeoutMs: cfg.limits.syncServiceTimeoutMs,
      ota: this.ota,
    });
    this.http = new ApiHttpServer({
      host: cfg.http.host,
      port: cfg.http.port,
      maxBodyBytes: cfg.http.maxBodyBytes,
      maxHeaderBytes: cfg.http.maxHeaderBytes,
      throttleHttpStatus: cfg.limits.throttleHttpStatus,
      auth: {
        secrets: new Map(cfg.accessKeys.map((k) => [k.id, k.secret])),
        now: options.clock ?? Date.now,
        skewSeconds: skew,
        nonces: options.nonceStore ?? new MemoryNonceStore(2 * skew * 1000, cfg.http.nonceCacheSize),
      },
      limiter: new QpsLimiter(cfg.limits.qps),
      dispatcher,
      logger: this.logger,
      files: this.files,
      routes: [this.ota.uploads],
    });
  }

  /** Starts the MQTT side, then the HTTP API; resolves with both URLs once both listen. Idempotent. */
  start(): Promise<SimulatorUrls> {
    if (this.urls) return Promise.resolve(this.urls);
    this.starting ??= this.doStart().finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async doStart(): Promise<SimulatorUrls> {
    const mqttUrl = await this.link.start();
    let httpUrl: string;
    try {
      httpUrl = await this.http.start(this.httpPort);
    } catch (e) {
      await this.link.stop();
      throw e;
    }
    this.httpPort = Number(new URL(httpUrl).port);
    this.pendingHttpUrl = httpUrl;
    this.urls = { httpUrl, mqttUrl };
    this.logger.info({ httpUrl, mqttUrl, mode: this.config.mqtt.mode }, 'ready');
    this.emit('ready', this.urls);
    return this.urls;
  }

  /** Stops both sides; waiting API calls end, connections close. A later start() reuses the same ports. */
  async stop(): Promise<void> {
    if (this.starting) await this.starting.catch(() => undefined);
    if (!this.urls) return;
    this.urls = undefined;
    await this.http.stop();
    this.platform.close();
    await this.link.stop();
    this.logger.info('stopped');
  }

  get httpUrl(): string | undefined {
    return this.urls?.httpUrl;
  }

  get mqttUrl(): string | undefined {
    return this.urls?.mqttUrl;
  }

  /**
   * Embedded and managed mode: drops every device connection and listens again on the same port after `downMs`;
   * sessions survive (aedes' persistence object; mosquitto's persistence file).
   */
  async restartBroker(downMs = 0): Promise<void> {
    if (!(this.link instanceof EmbeddedBroker || this.link instanceof ManagedBroker)) {
      throw new Error('restartBroker: an external broker cannot be restarted by the simulator');
    }
    await this.link.restart(downMs);
  }

  /**
   * Ends a sub-device's session through its gateway behind the gateway's back, as when the platform loses it: the
   * gateway is not told, cloud calls to the sub-device answer DeviceOffline, and the gateway's next publish for it
   * is answered with `/ext/error` 520 (docs/protocol/gateway-platform.md). False when it had no session.
   */
  loseSubDeviceSession(productKey: string, deviceName: string): boolean {
    return this.platform.gatewayChannel.loseSession({ productKey, deviceName });
  }

  /**
   * Remote configuration (docs/protocol/remote-config.md): the platform edits and pushes a product's configuration
   * file in its console only, so this is the simulator's own API. Sets the file devices get with `thing.config.get`;
   * with `push`, also sends `thing.config.push` to every online device of the product (their replies land in
   * `deviceReplies` as `configPushReply`). `sign` overrides the announced SHA-256 (to test a device's digest check).
   */
  async setProductConfig(productKey: string, content: string | Buffer, opts: { push?: boolean; sign?: string } = {}): Promise<{ configId: string; sign: string; pushed: Map<string, string> }> {
    const cfg = this.platform.channels.configs.set(productKey, Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8'), opts.sign ? { sign: opts.sign } : {});
    const pushed = opts.push ? await this.platform.channels.configs.push(productKey) : new Map<string, string>();
    return { configId: cfg.configId, sign: cfg.sign, pushed };
  }

  /**
   * Log upload (docs/protocol/log-upload.md), the console's "report local logs" switch: 1 on, 0 off. Answered to the
   * device's `thing.config.log.get`, and pushed at once when it is online (resolves true then).
   */
  setLogUploadMode(productKey: string, deviceName: string, mode: 0 | 1): Promise<boolean> {
    return this.platform.channels.logs.setMode({ productKey, deviceName }, mode);
  }

  /** The log items a device uploaded with `thing.log.post`, oldest first (the last 1000). */
  deviceLogs(productKey: string, deviceName: string): DeviceLogItem[] {
    return this.platform.channels.logs.of({ productKey, deviceName });
  }

  /** A configured or registered device, secret included (for tests that connect as it). */
  device(productKey: string, deviceName: string): DeviceRecord | undefined {
    return this.registry.device(productKey, deviceName);
  }

  /** Registers a device in-process, as the RegisterDevice API does. */
  registerDevice(productKey: string, deviceName?: string): DeviceRecord {
    return this.registry.register(productKey, deviceName);
  }

  deviceStatus(productKey: string, deviceName: string): { status: DeviceStatus; at: number } {
    return this.platform.status({ productKey, deviceName });
  }

  /** Replies the device sent to platform requests (set_reply, service _reply, RRPC responses), oldest first. */
  deviceReplies(productKey: string, deviceName: string): DeviceReply[] {
    return this.state.peek(productKey, deviceName)?.replies.toArray() ?? [];
  }

  /** The last value and time of each property the device reported. */
  reportedProperties(productKey: string, deviceName: string): Record<string, PropertyValue> {
    return Object.fromEntries(this.state.peek(productKey, deviceName)?.properties ?? []);
  }

  /** Recent events the device posted (the last limits.eventHistory), oldest first. */
  deviceEvents(productKey: string, deviceName: string): EventRecord[] {
    return this.state.peek(productKey, deviceName)?.events.toArray() ?? [];
  }

  /** Resolves with the first reply (already recorded or arriving within `timeoutMs`) that `match` accepts. */
  /**
   * Sends `thing.service.property.get` to a device and resolves with its reply (undefined on timeout): the
   * platform has no cloud action for it (docs/protocol/property-get.md), so tests and tools ask here.
   */
  getDeviceProperties(id: DeviceId, identifiers: string[], timeoutMs = 5000): Promise<unknown> {
    return this.platform.stateChannels.getProperties(id, identifiers, timeoutMs);
  }

  waitForDeviceReply(id: DeviceId, match: (r: DeviceReply) => boolean = () => true, timeoutMs = 5000): Promise<DeviceReply> {
    const found = this.deviceReplies(id.productKey, id.deviceName).find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const onReply = (r: DeviceReply) => {
        if (r.productKey !== id.productKey || r.deviceName !== id.deviceName || !match(r)) return;
        clearTimeout(timer);
        this.off('deviceReply', onReply);
        resolve(r);
      };
      const timer = setTimeout(() => {
        this.off('deviceReply', onReply);
        reject(new Error(`no matching reply from ${id.productKey}/${id.deviceName} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.on('deviceReply', onReply);
    });
  }
}
