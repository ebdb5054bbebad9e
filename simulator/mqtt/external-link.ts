/**
 * External-broker mode: the simulator is the platform's MQTT 5 client on a broker it is given (e.g. mosquitto),
 * subscribed with No Local to every device-upstream topic. Devices authenticate with that broker, not with us.
 *
 * Presence cannot be observed in this mode (an open broker reports no connections), so the platform infers it
 * from traffic; see Platform. The session is persistent (clean=false, 5 min expiry) so a reconnect to the broker
 * keeps our subscriptions; stop() ends it with expiry 0 so the broker forgets it.
 */
import { randomBytes } from 'node:crypto';
import { connect, IClientOptions, ISubscriptionMap, MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { DownstreamOptions, MqttLink, UplinkSink } from './link';
import { batchWrites } from './write-batching';

/** Everything a device publishes upstream: Alink requests and replies, RRPC answers, NTP, custom topics. */
/** What devices send; `/ota/device/upgrade` is the platform's own (docs/protocol/ota-platform.md). */
export const UPSTREAM_FILTERS = ['/sys/#', '/ext/rrpc/#', '/ext/ntp/#', '/ext/session/#', '/+/+/user/#', '/shadow/update/#', '/ota/device/inform/#', '/ota/device/progress/#', '/ota/device/request/#'];

export interface ExternalLinkOptions {
  url: string;
  clientId?: string;
  sink: UplinkSink;
  logger: Logger;
  connectTimeoutMs?: number;
  /** Credentials on the broker (managed mode: the plugin's service account). */
  username?: string;
  password?: string;
  /** Sees every message first; true when it was not device traffic (managed mode: the plugin's presence). */
  intercept?: (topic: string, payload: Buffer) => boolean;
}

export class ExternalLink implements MqttLink {
  readonly mode = 'external' as const;
  private client?: MqttClient;
  /** Holds the current connection's writes until the end of the event loop turn (a reconnect brings a new one). */
  private hold: () => void = () => undefined;

  constructor(private readonly opts: ExternalLinkOptions) {}

  async start(): Promise<string> {
    const clientId = this.opts.clientId ?? `alink-sim-${randomBytes(6).toString('hex')}`;
    const options: IClientOptions = {
      protocolVersion: 5,
      clientId,
      clean: false,
      keepalive: 30,
      reconnectPeriod: 1000,
      connectTimeout: this.opts.connectTimeoutMs ?? 10_000,
      properties: { sessionExpiryInterval: 300 },
      ...(this.opts.username ? { username: this.opts.username, password: this.opts.password } : {}),
    };
    const client = connect(this.opts.url, options);
    this.client = client;
    const subs: ISubscriptionMap = Object.fromEntries(UPSTREAM_FILTERS.map((f) => [f, { qos: 1, nl: true }]));
    client.on('connect', () => (this.hold = batchWrites(client.stream as unknown as Parameters<typeof batchWrites>[0])));
    client.on('message', (topic, payload) => {
      if (!this.opts.intercept?.(topic, payload)) this.opts.sink.uplink(topic, payload);
    });
    client.on('error', (err) => this.opts.logger.warn({ err: err.message, url: this.opts.url }, 'external broker connection error'));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`mqtt.url: could not connect to ${this.opts.url} within ${options.connectTimeout} ms`));
      }, options.connectTimeout);
      const onConnect = () => {
        // Wait until the subscriptions are in place, so nothing a device sends after start() is lost.
        // After a reconnect that lost the session, MQTT.js (resubscribe: true) subscribes them again.
        client.subscribe(subs, (err) => {
          cleanup();
          if (err) reject(err);
          else resolve();
        });
      };
      const cleanup = () => {
        clearTimeout(timer);
        client.off('connect', onConnect);
      };
      client.once('connect', onConnect);
    }).catch(async (e: unknown) => {
      await client.endAsync(true);
      this.client = undefined;
      throw e;
    });
    this.opts.logger.info({ url: this.opts.url, clientId }, 'connected to the external broker');
    return this.opts.url;
  }

  /**
   * Disconnects. `keepSession` leaves the broker the session (its subscriptions, and QoS 1 messages queued for it
   * meanwhile): for a broker restart, so what devices send and what the plugin reports in between is delivered
   * when the link is back.
   */
  async stop(keepSession = false): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    if (client.connected) {
      await client.endAsync(false, keepSession ? {} : { properties: { sessionExpiryInterval: 0 } });
    } else {
      await client.endAsync(true);
    }
  }

  async publish(topic: string, payload: Buffer, opts: DownstreamOptions): Promise<void> {
    const client = this.client;
    if (!client) throw new Error('the external broker link is not running');
    const p = opts.properties;
    this.hold();
    await client.publishAsync(topic, payload, {
      qos: opts.qos,
      ...(p
        ? {
            properties: {
              ...(p.responseTopic ? { responseTopic: p.responseTopic } : {}),
              ...(p.correlationData ? { correlationData: p.correlationData } : {}),
              ...(p.userProperties && Object.keys(p.userProperties).length ? { userProperties: p.userProperties } : {}),
            },
          }
        : {}),
    });
  }
}
