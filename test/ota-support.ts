/**
 * What the OTA tests share: a local file server with `Range`, a drop of the connection after N bytes, refused
 * (expired) URLs and a log of what it sent; and a fake platform on a real broker (the cloud's side of the OTA
 * topics: notices, firmware.get answers, progress and informs recorded).
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';

export interface ServedFile {
  body: Buffer;
  /** Close the connection after this many body bytes, on the next `drops` requests. */
  dropAfter?: number;
  drops?: number;
  /** Answer 403 (an expired signed URL) to every request of this path. */
  expired?: boolean;
  /** Pause this long between chunks (a slow link, so a test can act mid-download). */
  chunkDelayMs?: number;
  /** Answer every request with the whole file (200), as a server without Range support does. */
  ignoreRange?: boolean;
}

export interface Served {
  path: string;
  start: number;
  /** Body bytes written to the socket. */
  sent: number;
  status: number;
}

export interface FileServer {
  url(path: string): string;
  files: Map<string, ServedFile>;
  log: Served[];
  close(): Promise<void>;
}

export async function startFileServer(): Promise<FileServer> {
  const files = new Map<string, ServedFile>();
  const log: Served[] = [];
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const f = files.get(path);
    const entry: Served = { path, start: 0, sent: 0, status: 200 };
    log.push(entry);
    if (!f || f.expired) {
      entry.status = f ? 403 : 404;
      res.writeHead(entry.status).end();
      return;
    }
    const m = f.ignoreRange ? null : /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    entry.start = start;
    if (start >= f.body.length && f.body.length > 0) {
      entry.status = 416;
      res.writeHead(416, { 'content-range': `bytes */${f.body.length}` }).end();
      return;
    }
    const rest = f.body.subarray(start);
    entry.status = m ? 206 : 200;
    res.writeHead(entry.status, { 'content-length': rest.length, ...(m ? { 'content-range': `bytes ${start}-${f.body.length - 1}/${f.body.length}` } : {}) });
    const drop = f.dropAfter !== undefined && (f.drops ?? 1) > 0;
    if (drop) f.drops = (f.drops ?? 1) - 1;
    const limit = drop ? Math.min(rest.length, f.dropAfter!) : rest.length;
    const CHUNK = 16 * 1024;
    let at = 0;
    const pump = () => {
      while (at < limit) {
        const n = Math.min(CHUNK, limit - at);
        const ok = res.write(rest.subarray(at, at + n));
        at += n;
        entry.sent += n;
        if (f.chunkDelayMs) return void setTimeout(pump, f.chunkDelayMs);
        if (!ok) return void res.once('drain', pump);
      }
      // end, not destroy: the bytes written arrive, then the connection closes short of Content-Length
      if (drop) res.socket?.end();
      else res.end();
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}?Expires=9999999999&Signature=secret`,
    files,
    log,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Deterministic bytes (so a digest mismatch is the test's doing, not chance). */
export function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

export interface CloudMessage {
  topic: string;
  params: Record<string, string>;
}

/** The platform's side of one device's OTA topics, on a real broker. */
export interface FakePlatform {
  client: MqttClient;
  progress: CloudMessage[];
  informs: CloudMessage[];
  /** What firmware.get answers per module (`undefined`: `data: {}`). */
  pending: Map<string, Record<string, unknown>>;
  pulls: string[];
  push(data: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

export async function startFakePlatform(url: string, device: { productKey: string; deviceName: string }, protocolVersion: 4 | 5): Promise<FakePlatform> {
  const own = `${device.productKey}/${device.deviceName}`;
  const client = await mqtt.connectAsync(url, { protocolVersion, clientId: `cloud-ota-${Math.random().toString(36).slice(2, 8)}`, reconnectPeriod: 0 });
  const p: FakePlatform = {
    client,
    progress: [],
    informs: [],
    pending: new Map(),
    pulls: [],
    push: async (data) => {
      await client.publishAsync(`/ota/device/upgrade/${own}`, JSON.stringify({ code: '1000', id: Date.now() * 1000, message: 'success', data }), { qos: 1 });
    },
    close: () => client.endAsync(true),
  };
  client.on('message', (topic, payload) => {
    const msg = JSON.parse(payload.toString()) as { id: string; params: Record<string, string> };
    if (topic.startsWith('/ota/device/progress/')) p.progress.push({ topic, params: msg.params });
    else if (topic.startsWith('/ota/device/inform/')) p.informs.push({ topic, params: msg.params });
    else if (topic.endsWith('/thing/ota/firmware/get')) {
      const module = msg.params.module ?? 'default';
      p.pulls.push(module);
      const data = p.pending.get(module) ?? {};
      void client.publishAsync(`${topic}_reply`, JSON.stringify({ id: msg.id, code: 200, data, message: 'success' }), { qos: 0 });
    }
  });
  await client.subscribeAsync({ [`/ota/device/progress/${own}`]: { qos: 1 }, [`/ota/device/inform/${own}`]: { qos: 1 }, [`/sys/${own}/thing/ota/firmware/get`]: { qos: 1 } });
  return p;
}
