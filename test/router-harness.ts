/**
 * Test harness for the router against a real broker: one MQTT.js client is the device transport (a minimal
 * Uplink, and every PUBLISH fed to router.handle), a second MQTT.js client plays the cloud (publishes Alink
 * requests on the device topics, records everything, and answers property/event posts like the platform).
 */
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { compileThingModel, loadThingModelFile, type CompiledThingModel } from '../thing-model';
import { createRouter, type Router, type RouterObserver, type RouterOptions, type RrpcBudgets } from '../agent/router';
import type { InboundMessage, MessageProperties, PublishOptions, PublishReceipt, ReplyCache, StoredReply, Uplink } from '../agent/transport';
import { loadPlugins, type PluginConfig, type PluginHost } from '../agent/plugins/loader';
import { openAgentDb, type AgentDb } from '../agent/storage';
import { StateTable } from '../agent/storage/state-table';
import { startAedes, startMosquitto, waitFor, type RunningBroker } from './helpers/brokers';

export const PK = 'a1GwDemo01';
export const DN = 'gw-001';
export const SYS = `/sys/${PK}/${DN}`;
export const USER = `/${PK}/${DN}/user/`;
export const TSL_PATH = join(__dirname, '..', 'thing-model', 'fixtures', 'example-gateway.json');

let modelCache: CompiledThingModel | undefined;
export function exampleModel(): CompiledThingModel {
  modelCache ??= compileThingModel(loadThingModelFile(TSL_PATH));
  return modelCache;
}

/** A message seen by the cloud client. */
export interface Seen {
  topic: string;
  payload: Buffer;
  qos: number;
  properties?: IPublishPacket['properties'];
  /** The payload parsed as JSON, when it is. */
  json?: Record<string, unknown>;
}

/** A publish the device made through the uplink. */
export interface Sent {
  topic: string;
  payload: string | Buffer;
  opts: PublishOptions;
}

/** Minimal Uplink over an MQTT.js client (no outbox). */
export class MqttUplink implements Uplink {
  readonly sent: Sent[] = [];
  constructor(private readonly client: MqttClient) {}

  async publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<PublishReceipt> {
    this.sent.push({ topic, payload, opts });
    const acked = this.client.publishAsync(topic, payload, { qos: opts.qos, properties: toPacketProps(opts.properties) }).then(() => undefined);
    acked.catch(() => undefined);
    return { acked };
  }
}

function toPacketProps(p: MessageProperties | undefined): IPublishPacket['properties'] | undefined {
  if (!p) return undefined;
  const out: NonNullable<IPublishPacket['properties']> = {};
  if (p.responseTopic !== undefined) out.responseTopic = p.responseTopic;
  if (p.correlationData !== undefined) out.correlationData = p.correlationData;
  if (p.userProperties !== undefined) out.userProperties = p.userProperties;
  if (p.contentType !== undefined) out.contentType = p.contentType;
  return out;
}

/** An in-memory reply cache that counts hits. */
export class MemoryReplyCache implements ReplyCache {
  readonly map = new Map<string, StoredReply>();
  hits = 0;
  get(key: string): StoredReply | undefined {
    const r = this.map.get(key);
    if (r) this.hits++;
    return r;
  }
  put(key: string, reply: StoredReply): void {
    this.map.set(key, reply);
  }
}

/** Counts what the router reports. */
export class CountingObserver implements RouterObserver {
  readonly in: Record<string, number> = {};
  readonly rejections: number[] = [];
  readonly done: string[] = [];
  budgetMisses = 0;
  messageIn(kind: string): void {
    this.in[kind] = (this.in[kind] ?? 0) + 1;
  }
  rejection(code: number): void {
    this.rejections.push(code);
  }
  handlerDone(kind: string): void {
    this.done.push(kind);
  }
  rrpcBudgetMiss(): void {
    this.budgetMisses++;
  }
}

export interface HarnessOptions {
  broker: 'aedes' | 'mosquitto';
  plugins?: PluginConfig[];
  replyCache?: ReplyCache;
  rrpc?: RrpcBudgets;
  asyncTimeoutMs?: number;
  replyTimeoutMs?: number;
  /** The router's post-after-set policy; its defaults when absent. */
  postAfterSet?: RouterOptions['postAfterSet'];
  /** Code the fake platform answers posts with; null = never answers. Default 200. */
  postReplyCode?: number | null;
  dataDir?: string;
  /** Give the plugins a durable `ctx.state` in `{dataDir}/agent.db` (as the agent's default stores do). Default true. */
  durableState?: boolean;
  configDir?: string;
  /** Defaults to a silent logger (TEST_LOG=debug to see it). */
  logger?: pino.Logger;
}

export interface Harness {
  broker: RunningBroker;
  device: MqttClient;
  cloud: MqttClient;
  router: Router;
  plugins: PluginHost;
  uplink: MqttUplink;
  observer: CountingObserver;
  model: CompiledThingModel;
  dataDir: string;
  /** The database holding `ctx.state`, when `durableState`. */
  db?: AgentDb;
  /** Every message the cloud client received (its own requests included: it subscribes to '#'). */
  seen: Seen[];
  /** Publishes as the cloud. */
  send(topic: string, payload: string | Buffer | object, opts?: { qos?: 0 | 1; properties?: IPublishPacket['properties'] }): Promise<void>;
  /** Waits for a message the cloud saw, matching `pred`, published after index `from`. */
  next(pred: (m: Seen) => boolean, timeoutMs?: number, what?: string): Promise<Seen>;
  /** Messages seen on `topic` matching the optional predicate. */
  on(topic: string, pred?: (m: Seen) => boolean): Seen[];
  close(): Promise<void>;
}

/** Starts broker, cloud client, device client, plugins and router; subscribes and starts the plugins. */
export async function startHarness(opts: HarnessOptions): Promise<Harness> {
  const broker = opts.broker === 'aedes' ? await startAedes() : await startMosquitto();
  const protocolVersion = opts.broker === 'aedes' ? 4 : 5;
  const model = exampleModel();
  const ownDataDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'router-test-'));
  const logger = opts.logger ?? pino({ level: process.env.TEST_LOG ?? 'silent' });
  const seen: Seen[] = [];
  const cloud = await mqtt.connectAsync(broker.url, { protocolVersion, reconnectPeriod: 0, clientId: `cloud-${Math.random().toString(16).slice(2)}` });
  const postReplyCode = opts.postReplyCode === undefined ? 200 : opts.postReplyCode;
  cloud.on('message', (topic, payload, packet) => {
    let json: Record<string, unknown> | undefined;
    try {
      const v: unknown = JSON.parse(payload.toString('utf8'));
      if (v && typeof v === 'object') json = v as Record<string, unknown>;
    } catch {
      json = undefined;
    }
    seen.push({ topic, payload, qos: packet.qos, properties: packet.properties, json });
    if (postReplyCode !== null && topic.startsWith(`${SYS}/thing/event/`) && topic.endsWith('/post') && json && typeof json.id === 'string') {
      const reply = { id: json.id, code: postReplyCode, data: {}, message: postReplyCode === 200 ? 'success' : 'request parameter error', method: json.method, version: '1.0' };
      void cloud.publishAsync(`${topic}_reply`, JSON.stringify(reply), { qos: 0 });
    }
  });
  await cloud.subscribeAsync('#', { qos: 1 });

  const device = await mqtt.connectAsync(broker.url, { protocolVersion, reconnectPeriod: 0, clientId: `${PK}.${DN}` });
  const uplink = new MqttUplink(device);
  const observer = new CountingObserver();
  const db = opts.durableState === false ? undefined : openAgentDb({ file: join(dataDir, 'agent.db'), logger });
  const state = db ? new StateTable(db, logger) : undefined;
  const plugins = await loadPlugins(opts.plugins ?? [], { model, identity: { productKey: PK, deviceName: DN }, logger, dataDir, configDir: opts.configDir ?? __dirname, ...(state ? { state } : {}) });
  const router = createRouter({
    identity: { productKey: PK, deviceName: DN },
    model,
    uplink,
    plugins,
    replyCache: opts.replyCache,
    rrpc: opts.rrpc ?? { budgetMs: 2000 },
    logger,
    observer,
    asyncTimeoutMs: opts.asyncTimeoutMs,
    upstream: { replyTimeoutMs: opts.replyTimeoutMs ?? 2000 },
    ...(opts.postAfterSet ? { postAfterSet: opts.postAfterSet } : {}),
  });
  device.on('message', (topic, payload, packet) => {
    const p = packet.properties;
    const msg: InboundMessage = { topic, payload, qos: packet.qos };
    if (p) msg.properties = { responseTopic: p.responseTopic, correlationData: p.correlationData, userProperties: p.userProperties as Record<string, string | string[]> | undefined, contentType: p.contentType };
    void router.handle(msg);
  });
  const subs = router.subscriptions();
  await device.subscribeAsync(Object.fromEntries(subs.map((s) => [s.topic, { qos: s.qos }])));
  await plugins.start(router.upstream, 5000);

  let cursor = 0;
  const h: Harness = {
    broker,
    device,
    cloud,
    router,
    plugins,
    uplink,
    observer,
    model,
    dataDir,
    ...(db ? { db } : {}),
    seen,
    async send(topic, payload, o) {
      const body = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
      cursor = seen.length;
      await cloud.publishAsync(topic, body, { qos: o?.qos ?? 1, properties: o?.properties });
    },
    async next(pred, timeoutMs = 3000, what = 'a cloud-side message') {
      const from = cursor;
      const m = await waitFor(() => seen.slice(from).find(pred), timeoutMs, what);
      return m;
    },
    on(topic, pred) {
      return seen.filter((m) => m.topic === topic && (!pred || pred(m)));
    },
    async close() {
      await router.drain(1000);
      await plugins.stop(2000);
      await device.endAsync();
      await cloud.endAsync();
      await broker.stop();
      state?.close();
      db?.close();
      if (ownDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return h;
}

/** True for an Alink reply with `id`. */
export function isReplyTo(id: string): (m: Seen) => boolean {
  return (m) => m.json?.id === id && typeof m.json.code === 'number';
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
