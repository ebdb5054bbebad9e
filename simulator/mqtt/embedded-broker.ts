/**
 * The embedded Alink broker (aedes, MQTT 3.1.1): authenticates devices the Alink way, enforces per-device topic
 * permissions, QoS 0/1 only, a payload size limit and a subscription count limit, keeps one live connection
 * per device identity (pk+dn, whatever the clientId), and hands device traffic to the platform.
 *
 * Sessions (clean=false subscriptions and queued QoS 1 messages) live in one aedes persistence object that
 * outlives broker restarts: the official device SDK never re-subscribes after a reconnect (docs/protocol/wire-capture.md, "Reconnect and broker restart"),
 * so a simulator that lost sessions would leave SDK devices deaf.
 *
 * Devices never receive each other's publishes (or their own): only the platform, and configured service clients,
 * send to devices. Service clients (config mqtt.serviceClients) may publish and subscribe anywhere; they stand in
 * for server-side consumers in tests and benchmarks.
 */
import { AedesPublishPacket, Client, createBroker, PublishPacket, Subscription } from 'aedes';
import type Aedes from 'aedes';
import { createServer, Server, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { DeviceId, mayPublish, mayReceive, maySubscribe } from './acl';
import { checkDeviceConnect } from './auth';
import { SERVER_SUBSCRIPTION_QOS, serverSubscriptionFilters, wantsServerSubscriptions } from './server-subscriptions';
import type { DownstreamOptions, MqttLink, UplinkSink } from './link';
import { topicOwner } from '../gateway/owner';

export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  maxPayloadBytes: number;
  maxSubscriptions: number;
  keepaliveMin: number;
  keepaliveMax: number;
  serviceClients: { username: string; password: string }[];
  secretOf(productKey: string, deviceName: string): string | undefined;
  /** DisableThing: refused with CONNACK 5. */
  disabled?(productKey: string, deviceName: string): boolean;
  sink: UplinkSink;
  logger: Logger;
  /** Whether gateway `gw` may use sub-device `owner`'s topics (docs/protocol/gateway-platform.md). */
  mayProxy?(gw: DeviceId, owner: DeviceId, use: 'publish' | 'subscribe' | 'receive'): boolean;
}

type Session =
  | { kind: 'device'; id: DeviceId; keepalive: number; clientParams: Record<string, string>; subscriptions: Set<string>; perOwner: Map<string, number>; serverFilters?: Set<string> }
  | { kind: 'service' };

type AuthError = Error & { returnCode: number };

function authError(returnCode: number, reason: string): AuthError {
  return Object.assign(new Error(reason), { returnCode });
}

export class EmbeddedBroker implements MqttLink {
  readonly mode = 'embedded' as const;
  private broker?: Aedes;
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private persistence: unknown;
  private boundPort?: number;
  /** Set while stop() closes connections: those ends are the broker's doing, not a link failure. */
  private closing = false;
  private readonly sessions = new WeakMap<Client, Session>();
  private readonly connectKeepalive = new WeakMap<Client, number>();
  /** The live connection of each device identity. */
  private readonly byIdentity = new Map<string, Client>();
  /** ClientIds of service clients: aedes keeps only the publisher's id on a forwarded packet. */
  private readonly serviceClientIds = new Set<string>();
  /** Connections the platform ended itself (DeleteDevice, DisableThing): clean ends, as at stop(). */
  private readonly kicked = new WeakSet<Client>();

  constructor(private readonly opts: EmbeddedBrokerOptions) {}

  async start(): Promise<string> {
    const broker = this.createAedes();
    const server = createServer(broker.handle);
    server.on('connection', (s) => {
      s.setNoDelay(true);
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    // A restart binds the port it had, so devices reconnect to the URL they know.
    const port = this.boundPort ?? this.opts.port;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.broker = broker;
    this.server = server;
    this.boundPort = (server.address() as AddressInfo).port;
    return `mqtt://${this.opts.host}:${this.boundPort}`;
  }

  async stop(): Promise<void> {
    const { broker, server } = this;
    this.broker = undefined;
    this.server = undefined;
    if (server) {
      this.closing = true;
      const closed = new Promise<void>((r) => server.close(() => r()));
      if (broker) await new Promise<void>((r) => broker.close(() => r()));
      for (const s of this.sockets) s.destroy();
      await closed;
      this.closing = false;
    }
    this.byIdentity.clear();
    this.serviceClientIds.clear();
  }

  /** Stops and starts the broker on the same port; sessions survive. */
  async restart(downMs = 0): Promise<void> {
    await this.stop();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.start();
  }

  /** Closes the device's live connection, if it has one (the platform ended it: a clean end). */
  disconnect(id: DeviceId): void {
    const client = this.byIdentity.get(`${id.productKey}/${id.deviceName}`);
    if (!client || client.closed) return;
    this.kicked.add(client);
    client.close();
  }

  publish(topic: string, payload: Buffer, opts: DownstreamOptions): Promise<void> {
    const broker = this.broker;
    if (!broker) return Promise.reject(new Error('the embedded broker is not running'));
    const packet: PublishPacket = { cmd: 'publish', topic, payload, qos: opts.qos, retain: false, dup: false };
    return new Promise((resolve, reject) => broker.publish(packet, (err) => (err ? reject(err) : resolve())));
  }

  /**
   * Server-side subscriptions for an `_ss=1` client, on every CONNECT; 'client' fires before aedes writes the
   * CONNACK, so they are in place before the device can send anything that expects an answer.
   */
  private subscribeForDevice(client: Client, id: DeviceId): void {
    const filters = serverSubscriptionFilters(id);
    const s = this.sessions.get(client);
    if (s?.kind === 'device') s.serverFilters = new Set(filters);
    const subs = filters.map((topic) => ({ topic, qos: SERVER_SUBSCRIPTION_QOS }) as Subscription);
    client.subscribe(subs, (err?: Error) => {
      if (err) this.opts.logger.warn({ clientId: client.id, err: err.message }, 'server-side subscription failed');
    });
  }

  private proxied(topic: string, gw: DeviceId, use: 'publish' | 'subscribe' | 'receive'): boolean {
    const owner = topicOwner(topic);
    if (!owner || !this.opts.mayProxy?.(gw, owner, use)) return false;
    return use === 'subscribe' ? maySubscribe(topic, owner) : use === 'receive' ? mayReceive(topic, owner) : mayPublish(topic, owner);
  }

  private createAedes(): Aedes {
    const log = this.opts.logger;
    const broker = createBroker({
      persistence: this.persistence,
      // Alink client ids carry the signing parameters and run far past MQTT 3.1's 23 characters.
      maxClientsIdLength: 256,
      preConnect: (client, packet, cb) => {
        this.connectKeepalive.set(client, packet.keepalive ?? 0);
        cb(null, true);
      },
      authenticate: (client, username, password, cb) => {
        const service = this.opts.serviceClients.find((s) => s.username === username && password?.toString('utf8') === s.password);
        if (service) {
          this.sessions.set(client, { kind: 'service' });
          this.serviceClientIds.add(client.id);
          cb(null, true);
          return;
        }
        const outcome = checkDeviceConnect(
          { clientId: client.id, username, password, keepalive: this.connectKeepalive.get(client) ?? 0 },
          { keepaliveMin: this.opts.keepaliveMin, keepaliveMax: this.opts.keepaliveMax, secretOf: this.opts.secretOf, disabled: this.opts.disabled },
        );
        if (!outcome.ok) {
          log.warn({ clientId: client.id, username, returnCode: outcome.returnCode, reason: outcome.reason }, 'device connect refused');
          cb(authError(outcome.returnCode, outcome.reason) as never, false);
          return;
        }
        const id = { productKey: outcome.productKey, deviceName: outcome.deviceName };
        this.sessions.set(client, { kind: 'device', id, keepalive: outcome.keepalive, clientParams: outcome.params, subscriptions: new Set(), perOwner: new Map() });
        this.serviceClientIds.delete(client.id);
        cb(null, true);
      },
      authorizePublish: (client, packet, cb) => {
        const s = client ? this.sessions.get(client) : undefined;
        if (!s || s.kind === 'service') return cb(null);
        const refuse = (reason: string) => {
          log.warn({ clientId: client?.id, topic: packet.topic, reason }, 'device publish refused; closing the connection');
          cb(new Error(reason));
        };
        if (packet.qos === 2) return refuse('QoS 2 is not supported');
        const size = packet.payload?.length ?? 0;
        if (size > this.opts.maxPayloadBytes) return refuse(`payload of ${size} bytes exceeds the limit of ${this.opts.maxPayloadBytes}`);
        if (!mayPublish(packet.topic, s.id) && !this.proxied(packet.topic, s.id, 'publish')) return refuse(`topic ${packet.topic} is not a topic of ${s.id.productKey}/${s.id.deviceName}`);
        cb(null);
      },
      authorizeSubscribe: (client, sub, cb) => {
        const s = this.sessions.get(client);
        if (!s || s.kind === 'service') return cb(null, sub);
        const refuse = (reason: string) => {
          log.warn({ clientId: client.id, topic: sub.topic, reason }, 'device subscription refused');
          cb(null, null);
        };
        if (sub.qos === 2) return refuse('QoS 2 is not supported');
        if (!maySubscribe(sub.topic, s.id) && !this.proxied(sub.topic, s.id, 'subscribe')) return refuse(`filter ${sub.topic} is not a topic of ${s.id.productKey}/${s.id.deviceName}`);
        // The platform's own subscriptions for an _ss=1 client do not use up the device's allowance.
        if (s.serverFilters?.has(sub.topic)) return cb(null, sub as Subscription);
        // A sub-device's filters count against its own allowance, not its gateway's.
        // Counted per owner as they come and go: a gateway with 2,000 sub-devices holds some 28,000 filters.
        const owner = ownerKey(sub.topic);
        const mine = s.perOwner.get(owner) ?? 0;
        if (!s.subscriptions.has(sub.topic)) {
          if (mine >= this.opts.maxSubscriptions) return refuse(`more than ${this.opts.maxSubscriptions} subscriptions`);
          s.perOwner.set(owner, mine + 1);
        }
        s.subscriptions.add(sub.topic);
        cb(null, sub as Subscription);
      },
      authorizeForward: (client, packet: AedesPublishPacket) => {
        // The platform's own publishes carry no clientId; a service client's go anywhere; a device's only to
        // service clients.
        const origin = (packet as AedesPublishPacket & { clientId?: string }).clientId;
        const target = this.sessions.get(client);
        if (origin === undefined || this.serviceClientIds.has(origin)) {
          // A sub-device's topics reach its gateway only while it is logged in through that gateway.
          if (target?.kind === 'device' && !mayReceive(packet.topic, target.id) && !this.proxied(packet.topic, target.id, 'receive')) return null;
          return packet;
        }
        return target?.kind === 'service' ? packet : null;
      },
    });
    this.persistence = (broker as unknown as { persistence: unknown }).persistence;

    broker.on('client', (client) => {
      const s = this.sessions.get(client);
      if (s?.kind !== 'device') return;
      const key = `${s.id.productKey}/${s.id.deviceName}`;
      const older = this.byIdentity.get(key);
      this.byIdentity.set(key, client);
      if (older && older !== client && !older.closed) {
        log.info({ device: key, older: older.id, newer: client.id }, 'same device logged in again; closing the older connection');
        older.close();
      }
      this.opts.sink.deviceConnected(s.id, { clientId: client.id, keepalive: s.keepalive, clientParams: s.clientParams });
      if (wantsServerSubscriptions(s.clientParams)) this.subscribeForDevice(client, s.id);
    });
    broker.on('clientDisconnect', (client) => {
      const s = this.sessions.get(client);
      if (s?.kind !== 'device') return;
      const key = `${s.id.productKey}/${s.id.deviceName}`;
      if (this.byIdentity.get(key) !== client) return;
      this.byIdentity.delete(key);
      const graceful = this.closing || this.kicked.has(client) || (client as Client & { _disconnected?: boolean })._disconnected === true;
      this.opts.sink.deviceDisconnected(s.id, { clientId: client.id, graceful });
    });
    broker.on('unsubscribe', (topics, client) => {
      const s = this.sessions.get(client);
      if (s?.kind !== 'device') return;
      for (const t of topics) {
        if (!s.subscriptions.delete(t)) continue;
        const k = ownerKey(t);
        const n = (s.perOwner.get(k) ?? 1) - 1;
        if (n > 0) s.perOwner.set(k, n);
        else s.perOwner.delete(k);
      }
    });
    broker.on('publish', (packet, client) => {
      const s = client ? this.sessions.get(client) : undefined;
      if (s?.kind === 'device') this.opts.sink.uplink(packet.topic, packet.payload as Buffer, s.id);
    });
    broker.on('clientError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'mqtt client error'));
    broker.on('connectionError', (_client, err) => log.debug({ err: err.message }, 'mqtt connection error'));
    return broker;
  }
}

/** Whose subscription allowance a filter uses: its device's ('' for filters of no device). */
function ownerKey(filter: string): string {
  const o = topicOwner(filter);
  return o ? `${o.productKey}/${o.deviceName}` : '';
}
