/**
 * Shared pieces of the simulator's integration tests: a test config, a started simulator, raw MQTT.js devices
 * with Alink credentials, a capturing logger, and a raw ACS3 request signer for calls the SDK cannot make
 * (XML, replays, garbage).
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { connectAsync, ErrorWithSubackPacket, IClientOptions, MqttClient } from 'mqtt';
import pino, { Logger } from 'pino';
import { buildCredentials, SignMethod } from '../../thing-model/wire';
import { CloudSimulator, CloudSimulatorOptions } from '../cloud-simulator';
import type { SimulatorConfigInput } from '../config/schema';
import { byCodeUnit, canonicalQuery } from '../http/params';

export const TSL_PATH = join(__dirname, '..', 'tsl', 'example-gateway.json');
export const PK = 'a1GwDemo01';
export const SECRET = '3f6c0a9d27b84e1c95d2a7e41b08c6f3';

/**
 * gw-001 .. gw-00N of the example product, all with the vector-B secret. The broker mode is embedded unless the
 * file sets SIM_TEST_BROKER (api-managed.test.ts runs the API suite on the managed broker that way) or overrides
 * `mqtt`.
 */
export function testConfig(overrides: Partial<SimulatorConfigInput> = {}, deviceCount = 4): SimulatorConfigInput {
  const mode = process.env.SIM_TEST_BROKER;
  return {
    ...(mode === 'managed' || mode === 'embedded' ? { mqtt: { mode } } : {}),
    accessKeys: [
      { id: 'testAK', secret: 'testSecret' },
      { id: 'otherAK', secret: 'otherSecret' },
    ],
    products: [{ productKey: PK, tsl: TSL_PATH }],
    devices: Array.from({ length: deviceCount }, (_, i) => ({ productKey: PK, deviceName: `gw-00${i + 1}`, deviceSecret: SECRET })),
    log: { level: 'silent' },
    ...overrides,
  };
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** A logger whose JSON lines land in `lines`, to check what was (and was not) logged. */
export function capturingLogger(level = 'debug'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  return { logger: pino({ level }, sink), lines };
}

export async function startSim(config: SimulatorConfigInput = testConfig(), options: CloudSimulatorOptions = {}) {
  const sim = new CloudSimulator(config, { logger: silentLogger(), ...options });
  const urls = await sim.start();
  return { sim, ...urls };
}

export interface DeviceOptions {
  deviceName: string;
  productKey?: string;
  deviceSecret?: string;
  signMethod?: SignMethod;
  clientId?: string;
  extra?: Record<string, string>;
  keepalive?: number;
  clean?: boolean;
  upperCaseHex?: boolean;
  reconnectPeriod?: number;
  timestamp?: number;
}

export function deviceCredentials(o: DeviceOptions) {
  const c = buildCredentials({
    productKey: o.productKey ?? PK,
    deviceName: o.deviceName,
    deviceSecret: o.deviceSecret ?? SECRET,
    signMethod: o.signMethod ?? 'hmacsha256',
    secureMode: 3,
    timestamp: o.timestamp ?? Date.now(),
    ...(o.clientId ? { clientId: o.clientId } : {}),
    ...(o.extra ? { extra: o.extra } : {}),
  });
  return o.upperCaseHex ? { ...c, password: c.password.toUpperCase() } : c;
}

/** A raw MQTT.js client that logs in as a device; rejects when the broker refuses it. */
export function connectDevice(mqttUrl: string, o: DeviceOptions, extra: IClientOptions = {}): Promise<MqttClient> {
  return connectAsync(mqttUrl, {
    ...deviceCredentials(o),
    keepalive: o.keepalive ?? 60,
    clean: o.clean ?? true,
    reconnectPeriod: o.reconnectPeriod ?? 0,
    connectTimeout: 5000,
    ...extra,
  });
}

/** Resolves with the next message on a topic matching `match`, or rejects after `ms`. */
export function nextMessage(client: MqttClient, match: (topic: string) => boolean, ms = 3000): Promise<{ topic: string; payload: Buffer; packet: import('mqtt').IPublishPacket }> {
  return new Promise((resolve, reject) => {
    const on = (topic: string, payload: Buffer, packet: import('mqtt').IPublishPacket) => {
      if (!match(topic)) return;
      clearTimeout(timer);
      client.off('message', on);
      resolve({ topic, payload, packet });
    };
    const timer = setTimeout(() => {
      client.off('message', on);
      reject(new Error(`no message within ${ms} ms`));
    }, ms);
    client.on('message', on);
  });
}

/** Collects every message for `ms`. */
export async function messagesDuring(client: MqttClient, ms: number): Promise<string[]> {
  const got: string[] = [];
  const on = (topic: string) => got.push(topic);
  client.on('message', on);
  await new Promise((r) => setTimeout(r, ms));
  client.off('message', on);
  return got;
}

/** Resolves when the client's connection closes (the broker dropped it), or rejects after `ms`. */
export function closed(client: MqttClient, ms = 3000): Promise<void> {
  if (!client.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still connected after ${ms} ms`)), ms);
    client.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function httpRequest(url: string, opts: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<RawResponse> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, method: opts.method ?? 'POST', path: opts.path, headers: opts.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Signs a request the ACS3-HMAC-SHA256 way (docs/protocol/wire-capture.md, "Cloud OpenAPI SDK: request signatures"), as the SDK would. */
export function signAcs3(opts: {
  host: string;
  action: string;
  params: Record<string, string>;
  body?: string;
  accessKeyId?: string;
  secret?: string;
  date?: string;
  nonce?: string;
}): { path: string; headers: Record<string, string> } {
  const query = canonicalQuery(Object.entries(opts.params));
  const body = opts.body ?? '';
  const headers: Record<string, string> = {
    host: opts.host,
    'x-acs-action': opts.action,
    'x-acs-version': '2018-01-20',
    'x-acs-date': opts.date ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    'x-acs-signature-nonce': opts.nonce ?? randomBytes(16).toString('hex'),
    'x-acs-content-sha256': createHash('sha256').update(body).digest('hex'),
    ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
  };
  const names = Object.keys(headers).sort(byCodeUnit);
  const canonical = ['POST', '/', query, names.map((n) => `${n}:${headers[n]}\n`).join(''), names.join(';'), headers['x-acs-content-sha256']].join('\n');
  const sts = `ACS3-HMAC-SHA256\n${createHash('sha256').update(canonical).digest('hex')}`;
  const sig = createHmac('sha256', opts.secret ?? 'testSecret').update(sts).digest('hex');
  headers.authorization = `ACS3-HMAC-SHA256 Credential=${opts.accessKeyId ?? 'testAK'},SignedHeaders=${names.join(';')},Signature=${sig}`;
  return { path: `/?${query}`, headers };
}

/** Sends one ACS3-signed call and returns the raw response. */
export async function rawCall(httpUrl: string, action: string, params: Record<string, string>, extra: Partial<Parameters<typeof signAcs3>[0]> = {}): Promise<RawResponse> {
  const host = new URL(httpUrl).host;
  const s = signAcs3({ host, action, params, ...extra });
  return httpRequest(httpUrl, { path: s.path, headers: { ...s.headers, ...(extra.body ? {} : { 'content-length': '0' }) }, body: extra.body });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The QoS the broker granted per filter (128 = refused); MQTT.js rejects when any is refused, so read the SUBACK. */
export async function grantedQos(client: MqttClient, filters: string | string[], qos: 0 | 1 | 2 = 0): Promise<number[]> {
  try {
    return (await client.subscribeAsync(filters, { qos })).map((g) => g.qos);
  } catch (e) {
    if (e instanceof ErrorWithSubackPacket) return (e.packet.granted as (number | object)[]).map((g) => (typeof g === 'number' ? g : 128));
    throw e;
  }
}

/** The broker modes a device-facing suite runs on: the embedded aedes (MQTT 3.1.1) and managed mosquitto (MQTT 5). */
export const BROKER_MODES = ['embedded', 'managed'] as const;
export type BrokerMode = 'embedded' | 'managed';

/** The config part that selects a broker mode. */
export function modeConfig(mode: BrokerMode): Partial<SimulatorConfigInput> {
  return { mqtt: { mode } };
}
