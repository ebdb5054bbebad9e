/**
 * Managed mode: the simulator starts mosquitto 2.0 (MQTT 5 and 3.1.1) with its own plugin
 * (`simulator/mosquitto-plugin/`), which applies the platform's rules: the Alink signature, the topic ACL, payload
 * and subscription limits, one live connection per device, server-side subscriptions for `_ss=1` clients. The
 * simulator is the platform's MQTT 5 client there (an {@link ExternalLink} with a service account only the plugin
 * knows), and the plugin reports every device connect and disconnect to that client at once, as a direct publish
 * on `$alink-sim/presence`, so presence is exact as with the embedded broker (docs/simulator-brokers.md).
 *
 * mosquitto 2.0 tells a plugin nothing about how a connection ended (its DISCONNECT event always carries reason
 * -1), but it logs it: "Client X disconnected." after an MQTT DISCONNECT, other texts otherwise. The broker's log
 * (stderr, unbuffered) gives the `graceful` flag that HALFCONN depends on.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { isPlainObject } from '../../thing-model';
import type { DeviceRecord } from '../registry';
import { ExternalLink } from './external-link';
import type { DownstreamOptions, MqttLink, UplinkSink } from './link';
import { buildPlugin, managedSupport } from './mosquitto-support';
import { SERVER_SUBSCRIPTION_TEMPLATES } from './server-subscriptions';
import { parseClientId } from '../../thing-model/wire';

export const PRESENCE_TOPIC = '$alink-sim/presence';
/** Sub-device sessions, for the plugin's ACL, and connections to end (plugin.c PROXY_TOPIC). */
export const PROXY_TOPIC = 'alink-sim/proxy';

export interface ManagedBrokerOptions {
  host: string;
  port: number;
  keepaliveMin: number;
  keepaliveMax: number;
  maxPayloadBytes: number;
  maxSubscriptions: number;
  serviceClients: { username: string; password: string }[];
  devices(): Iterable<DeviceRecord>;
  sink: UplinkSink;
  logger: Logger;
}

interface Presence {
  event: 'connect' | 'disconnect';
  productKey: string;
  deviceName: string;
  clientId: string;
  keepalive: number;
}

const GRACEFUL = /^\d+: Client (.*) disconnected\.$/;
// Not "been disconnected by administrative action": that is a kicked older connection, never the one the plugin
// reports (and a verdict left behind would be taken for the next connection with that clientId).
const ENDED = /^\d+: Client (.*?)(?: closed its connection\.| has exceeded timeout, disconnecting\.| disconnected due to .*|, disconnecting\.)$/;
const SOCKET_ERROR = /^\d+: Socket error on client (.*), disconnecting\.$/;
/**
 * How long a disconnect report waits for the broker's log line that says how the connection ended. The line is
 * written before the report is queued, so the wait is only for the two pipes being read in another order.
 */
const LOG_WAIT_MS = 1000;
const MAX_VERDICTS = 10_000;

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const a = srv.address();
      srv.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

async function waitForPort(host: string, port: number, exited: Promise<never>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await Promise.race([
      new Promise<boolean>((resolve) => {
        const s = netConnect({ host, port }, () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      }),
      exited,
    ]);
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${host}:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export class ManagedBroker implements MqttLink {
  readonly mode = 'managed' as const;
  private dir?: string;
  private child?: ChildProcess;
  private link?: ExternalLink;
  private boundPort?: number;
  private stderrTail: string[] = [];
  /** clientId → whether its last connection ended with DISCONNECT, from the broker's log. */
  private readonly verdicts = new Map<string, boolean>();
  private readonly verdictWaiters = new Map<string, (graceful: boolean) => void>();
  /** Devices reported connected and not yet disconnected: stop() ends them as the embedded broker does. */
  private readonly online = new Map<string, { productKey: string; deviceName: string; clientId: string }>();
  /** Presence reports per device, in order: a disconnect may wait for its log line, a reconnect must not pass it. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly account = { username: `alink-sim-${randomBytes(6).toString('hex')}`, password: randomBytes(18).toString('hex') };
  private readonly clientId = `alink-sim-platform-${randomBytes(6).toString('hex')}`;

  constructor(private readonly opts: ManagedBrokerOptions) {}

  async start(): Promise<string> {
    const support = managedSupport();
    if (!support.ok) throw new Error(`mqtt.mode "managed": ${support.why}`);
    const plugin = await buildPlugin(support.cc);
    this.dir ??= mkdtempSync(join(tmpdir(), 'alink-sim-mosq-'));
    const port = (this.boundPort ??= this.opts.port || (await freePort(this.opts.host)));
    this.writeRegistry();
    const conf = join(this.dir, 'mosquitto.conf');
    writeFileSync(conf, this.config(plugin, port).join('\n') + '\n', { mode: 0o600 });
    const child = spawn(support.mosquitto, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    createInterface({ input: child.stderr! }).on('line', (line) => this.onLogLine(line));
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code, signal) => reject(new Error(`mosquitto exited (${signal ?? code}): ${this.stderrTail.slice(-3).join(' | ')}`))),
    );
    exited.catch(() => undefined);
    child.once('exit', (code, signal) => {
      // Devices cannot connect until the simulator is restarted; say so rather than fail silently.
      if (this.child === child) this.opts.logger.error({ code, signal, log: this.stderrTail.slice(-3) }, 'managed mosquitto exited unexpectedly');
    });
    try {
      await waitForPort(this.opts.host, port, exited);
      const url = `mqtt://${this.opts.host}:${port}`;
      this.link = new ExternalLink({
        url,
        clientId: this.clientId,
        ...this.account,
        sink: this.opts.sink,
        logger: this.opts.logger,
        intercept: (topic, payload) => topic === PRESENCE_TOPIC && (this.onPresence(payload), true),
      });
      await this.link.start();
      this.opts.logger.info({ url, mosquitto: support.mosquitto }, 'managed mosquitto broker running (MQTT 5, Alink auth and ACL plugin)');
      return url;
    } catch (e) {
      await this.stopChild();
      throw e;
    }
  }

  /** Stops mosquitto and removes its folder (config, device file, persistence): sessions end with it. */
  async stop(): Promise<void> {
    await this.halt();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }

  /** Stops and starts mosquitto on the same port; its persistence keeps sessions across the restart. */
  async restart(downMs = 0): Promise<void> {
    // The platform's session outlives the restart: presence reports and device messages that come before its link
    // is back (devices may reconnect first) queue in it, in mosquitto's persistence, instead of being dropped.
    await this.halt(true);
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.start();
  }

  private async halt(keepSession = false): Promise<void> {
    await this.link?.stop(keepSession);
    this.link = undefined;
    await this.stopChild();
    await Promise.all(this.chains.values());
    // Connections the broker closes itself count as clean ends, as with the embedded broker.
    for (const d of this.online.values()) this.opts.sink.deviceDisconnected(d, { clientId: d.clientId, graceful: true });
    this.online.clear();
  }

  private inOrder(key: string, step: () => void | Promise<void>): void {
    const next = (this.chains.get(key) ?? Promise.resolve()).then(step).catch((e: Error) => this.opts.logger.error({ err: e.message }, 'presence report failed'));
    this.chains.set(key, next);
    void next.then(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
  }

  publish(topic: string, payload: Buffer, opts: DownstreamOptions): Promise<void> {
    if (!this.link) return Promise.reject(new Error('the managed broker is not running'));
    return this.link.publish(topic, payload, opts);
  }

  /**
   * Tells the plugin that `sub` is logged in through `gw` (or no longer): the gateway's connection may use the
   * sub-device's topics only meanwhile. Sent on the platform's connection, so it lands before any reply sent after it.
   */
  proxy(gw: { productKey: string; deviceName: string }, sub: { productKey: string; deviceName: string }, on: boolean): void {
    const line = `${on ? '+' : '-'}\t${gw.productKey}/${gw.deviceName}\t${sub.productKey}/${sub.deviceName}`;
    this.link?.publish(PROXY_TOPIC, Buffer.from(line), { qos: 1 }).catch((e: Error) => this.opts.logger.warn({ err: e.message }, 'proxy update to the plugin failed'));
  }

  /**
   * Ends the device's live connection (the plugin kicks it). The platform's own doing, so a clean end: the verdict
   * is known before mosquitto reports the disconnect (its log line for a kick is not one the verdicts read).
   */
  disconnect(id: { productKey: string; deviceName: string }): void {
    const key = `${id.productKey}/${id.deviceName}`;
    const live = this.online.get(key);
    if (!live || !this.link) return;
    this.verdicts.set(live.clientId, true);
    this.link.publish(PROXY_TOPIC, Buffer.from(`!\t${key}`), { qos: 1 }).catch((e: Error) => this.opts.logger.warn({ err: e.message }, 'kick request to the plugin failed'));
  }

  /** Rewrites the device file (atomically) after a device was added, deleted, disabled or enabled; the plugin reads it again on the next CONNECT. */
  writeRegistry(): void {
    if (!this.dir) return;
    const lines = [`S\t${this.account.username}\t${this.account.password}`, ...this.opts.serviceClients.map((s) => `S\t${s.username}\t${s.password}`)];
    // A disabled device is left out: the plugin refuses its CONNECT as an unknown device's.
    for (const d of this.opts.devices()) if (!d.disabled) lines.push(`D\t${d.productKey}\t${d.deviceName}\t${d.deviceSecret}`);
    const file = join(this.dir, 'registry.txt');
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, lines.join('\n') + '\n', { mode: 0o600 });
    renameSync(tmp, file);
  }

  private config(plugin: string, port: number): string[] {
    const dir = this.dir!;
    return [
      `listener ${port} ${this.opts.host}`,
      // Started as root, mosquitto would switch to its own user, which cannot read our private folder.
      `user ${userInfo().username}`,
      'allow_anonymous false',
      `plugin ${plugin}`,
      `plugin_opt_registry ${join(dir, 'registry.txt')}`,
      `plugin_opt_platform_client_id ${this.clientId}`,
      `plugin_opt_keepalive_min ${this.opts.keepaliveMin}`,
      `plugin_opt_max_payload ${this.opts.maxPayloadBytes}`,
      `plugin_opt_max_subscriptions ${this.opts.maxSubscriptions}`,
      // The one list the embedded broker subscribes from, so both modes serve _ss=1 clients the same topics.
      `plugin_opt_server_subscriptions ${SERVER_SUBSCRIPTION_TEMPLATES.join(' ')}`,
      'max_qos 1',
      // Without it every QoS 1 step waits on Nagle's algorithm (~40 ms).
      'set_tcp_nodelay true',
      'persistence true',
      `persistence_location ${dir}/`,
      'max_inflight_messages 1000',
      'max_queued_messages 100000',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'connection_messages true',
    ];
  }

  private async stopChild(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    await done;
    clearTimeout(t);
  }

  private onLogLine(line: string): void {
    this.stderrTail.push(line);
    if (this.stderrTail.length > 20) this.stderrTail.shift();
    const graceful = GRACEFUL.exec(line);
    const ended = graceful ? undefined : (ENDED.exec(line) ?? SOCKET_ERROR.exec(line));
    const clientId = graceful?.[1] ?? ended?.[1];
    if (clientId === undefined) return;
    const waiter = this.verdictWaiters.get(clientId);
    if (waiter) {
      this.verdictWaiters.delete(clientId);
      waiter(!!graceful);
      return;
    }
    if (this.verdicts.size >= MAX_VERDICTS) this.verdicts.delete(this.verdicts.keys().next().value!);
    this.verdicts.set(clientId, !!graceful);
  }

  private verdict(clientId: string): Promise<boolean> {
    const known = this.verdicts.get(clientId);
    if (known !== undefined) {
      this.verdicts.delete(clientId);
      return Promise.resolve(known);
    }
    return new Promise((resolve) => {
      // No log line: an end the broker did not log counts as not graceful (the HALFCONN window then applies).
      const t = setTimeout(() => {
        this.verdictWaiters.delete(clientId);
        resolve(false);
      }, LOG_WAIT_MS);
      this.verdictWaiters.set(clientId, (g) => {
        clearTimeout(t);
        resolve(g);
      });
    });
  }

  private onPresence(payload: Buffer): void {
    let p: Presence;
    try {
      const v: unknown = JSON.parse(payload.toString('utf8'));
      if (!isPlainObject(v) || typeof v.productKey !== 'string' || typeof v.deviceName !== 'string' || typeof v.clientId !== 'string') return;
      p = v as unknown as Presence;
    } catch {
      return;
    }
    const id = { productKey: p.productKey, deviceName: p.deviceName };
    const key = `${p.productKey}/${p.deviceName}`;
    if (p.event === 'connect') {
      this.online.set(key, { ...id, clientId: p.clientId });
      const keepalive = Math.min(Number(p.keepalive) || 0, this.opts.keepaliveMax);
      const clientParams = parseClientId(p.clientId)?.params ?? {};
      this.inOrder(key, () => this.opts.sink.deviceConnected(id, { clientId: p.clientId, keepalive, clientParams }));
      return;
    }
    if (p.event !== 'disconnect') return;
    if (this.online.get(key)?.clientId === p.clientId) this.online.delete(key);
    this.inOrder(key, async () => this.opts.sink.deviceDisconnected(id, { clientId: p.clientId, graceful: await this.verdict(p.clientId) }));
  }
}
