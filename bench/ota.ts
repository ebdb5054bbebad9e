/**
 * OTA download benchmark (not a test), docs/ota.md: the agent's downloader (Node's http, 1 MiB blocks each
 * written, fsynced and hashed with SHA-256, the offset recorded in SQLite) against `curl` on the same signed URL
 * of the simulator's file server, in the same run.
 *
 * 1. Throughput of a 200 MB file: ratio = agent MB/s / curl MB/s (goal >= 0.9), median of 3 rounds each.
 * 2. RSS while downloading: the agent's peak RSS above its level before the download, for 50 MB and for 200 MB
 *    (goal: no growth with the file's size).
 * The cost of a resume after a kill -9 (bytes fetched twice) is measured by test/ota-kill9.test.ts, which prints
 * it, with a real process killed.
 * Run: `npm run bench:ota`.
 */
import * as $Iot from '@alicloud/iot20180120';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { CloudSimulator } from '../simulator/cloud-simulator';
import { createIotClient } from '../simulator/sdk-client';
import { openAgentDb } from '../agent/storage';
import { SqliteOtaStore } from '../agent/ota/store';
import { StagedFile } from '../agent/ota/staged-file';
import { downloadAttempt } from '../agent/ota/http-download';
import { median } from './stats';

const TSL = [join(__dirname, '..', '..', 'simulator', 'tsl', 'example-gateway.json'), join(__dirname, '..', 'simulator', 'tsl', 'example-gateway.json')].find((p) => existsSync(p)) as string;
const PK = 'a1OtaBench1';
const MB = 1024 * 1024;
const ROUNDS = Number(process.env.BENCH_OTA_ROUNDS ?? 3);

function pattern(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i += 4) b.writeUInt32LE((i * 2654435761) >>> 0, i);
  return b;
}

async function agentDownload(url: string, size: number, dir: string): Promise<{ seconds: number; peakRssDelta: number; digest: string }> {
  const db = openAgentDb({ file: join(dir, 'agent.db'), logger: pino({ level: 'silent' }) });
  const store = new SqliteOtaStore(db);
  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const t0 = process.hrtime.bigint();
  const file = await StagedFile.open(join(dir, 'fw.bin'), 'sha256', 0, MB, (at) => store.setOffset('pk/dn', 'default', 0, at, size, ''));
  await downloadAttempt(file, { url, size, idleTimeoutMs: 30_000, signal: new AbortController().signal });
  const digest = file.digest();
  await file.close();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  clearInterval(timer);
  db.close();
  rmSync(join(dir, 'fw.bin'), { force: true });
  return { seconds, peakRssDelta: Math.max(0, peak - before), digest };
}

/** Asynchronous: the simulator serving the file runs on this process's event loop. */
async function curlDownload(url: string, dir: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  await promisify(execFile)('curl', ['-s', '-f', '-o', join(dir, 'curl.bin'), url]);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  rmSync(join(dir, 'curl.bin'), { force: true });
  return s;
}

async function main(): Promise<void> {
  const sim = new CloudSimulator(
    { mqtt: { mode: 'embedded' }, accessKeys: [{ id: 'testAK', secret: 'testSecret' }], products: [{ productKey: PK, tsl: TSL }], devices: [], cloudValidation: false, log: { level: 'silent' } },
    { logger: pino({ level: 'silent' }) },
  );
  const urls = await sim.start();
  console.log('simulator started');
  const iot = createIotClient(urls.httpUrl);
  const dir = mkdtempSync(join(tmpdir(), 'bench-ota-'));
  try {
    const big = Number(process.env.BENCH_OTA_MB ?? 200) * MB;
    const sizes = [big / 4, big];
    const rss: Record<number, number[]> = {};
    let ratio200: number[] = [];
    for (const size of sizes) {
      const body = pattern(size);
      const expected = createHash('sha256').update(body).digest('hex');
      const res = await iot.createOTAFirmware(new $Iot.CreateOTAFirmwareRequest({ productKey: PK, destVersion: `b${size}`, firmwareName: 'bench', signMethod: 'SHA256', firmwareUrl: sim.ota.uploads.put(body) }));
      const url = sim.ota.downloadUrl(res.body!.data!.firmwareId!);
      if (process.env.BENCH_OTA_DEBUG) console.log('package', url);
      const agent: number[] = [];
      const curl: number[] = [];
      rss[size] = [];
      for (let r = 0; r < ROUNDS; r++) {
        if (process.env.BENCH_OTA_DEBUG) console.log('curl');
        curl.push(await curlDownload(url, dir));
        const a = await agentDownload(url, size, dir);
        if (a.digest !== expected) throw new Error('digest mismatch in the benchmark');
        agent.push(a.seconds);
        rss[size]!.push(a.peakRssDelta);
      }
      const mbps = (s: number) => size / MB / s;
      const ratios = agent.map((a, i) => curl[i]! / a);
      console.log(
        `${size / MB} MB: agent ${agent.map((s) => mbps(s).toFixed(0)).join(', ')} MB/s (median ${mbps(median(agent)).toFixed(0)}); curl ${curl.map((s) => mbps(s).toFixed(0)).join(', ')} MB/s (median ${mbps(median(curl)).toFixed(0)}); ratio agent/curl ${ratios.map((x) => x.toFixed(2)).join(', ')} (median ${median(ratios).toFixed(2)})`,
      );
      if (size === big) ratio200 = ratios;
    }
    const rssMb = (xs: number[]) => xs.map((x) => (x / MB).toFixed(1)).join(', ');
    console.log(`peak RSS above the start of the download: ${big / 4 / MB} MB file ${rssMb(rss[big / 4]!)} MB (median ${(median(rss[big / 4]!) / MB).toFixed(1)}); ${big / MB} MB file ${rssMb(rss[big]!)} MB (median ${(median(rss[big]!) / MB).toFixed(1)})`);
    console.log(`throughput ratio (${big / MB} MB, goal >= 0.9): ${median(ratio200).toFixed(2)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await sim.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
