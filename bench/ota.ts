/**
 * OTA download benchmark (not a test), docs/performance.md "OTA download": the agent's downloader
 * (agent/ota/http-download.ts, its own HTTP/1.1 client, into a StagedFile: blocks of `ota.blockBytes` written,
 * fsynced, hashed with SHA-256, the offset recorded in SQLite, as agent/ota/job.ts does) against `curl` on the
 * same signed URL, in the same run. The simulator serving the file runs in a child process (bench/ota-server.ts):
 * both clients face the same server the same way, and this process's memory is the downloader's alone.
 *
 * 1. Throughput: ratio = agent MB/s / curl MB/s (goal >= 0.9), 200 MB (`BENCH_OTA_MB`) and a quarter of it,
 *    `BENCH_OTA_ROUNDS` rounds each (default 5), curl and agent alternating who goes first; median ratio.
 * 2. RSS: the peak (VmHWM, reset through /proc/self/clear_refs right before) above the RSS after a GC, for both
 *    sizes (goal: no growth with the file's size).
 * The cost of a resume after a kill -9 (bytes fetched twice) is measured by test/ota-kill9.test.ts, which prints
 * it, with a real process killed.
 * Run: `npm run bench:ota` (`BENCH_OTA_BLOCK` overrides the block size, in bytes).
 */
import * as $Iot from '@alicloud/iot20180120';
import { execFile, fork } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createIotClient } from '../simulator/sdk-client';
import { openAgentDb } from '../agent/storage';
import { SqliteOtaStore } from '../agent/ota/store';
import { StagedFile } from '../agent/ota/staged-file';
import { downloadAttempt } from '../agent/ota/http-download';
import { otaSchema } from '../agent/config/ota-section';
import { median } from './stats';
import { PK, patternChunk } from './ota-server';

const MB = 1024 * 1024;
const ROUNDS = Number(process.env.BENCH_OTA_ROUNDS ?? 5);
const BLOCK = Number(process.env.BENCH_OTA_BLOCK ?? otaSchema.properties.blockBytes.default);

interface Run {
  seconds: number;
  cpuSeconds: number;
  peakRssDelta: number;
  digest: string;
}

function status(field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(m?.[1] ?? NaN) * 1024;
}

async function agentDownload(url: string, size: number, dir: string): Promise<Run> {
  const db = openAgentDb({ file: join(dir, 'agent.db'), logger: pino({ level: 'silent' }) });
  const store = new SqliteOtaStore(db);
  global.gc?.();
  // "5" resets the peak (VmHWM) to the current RSS: the peak read at the end is this download's.
  writeFileSync('/proc/self/clear_refs', '5');
  const before = status('VmRSS');
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const file = await StagedFile.open(join(dir, 'fw.bin'), 'sha256', 0, BLOCK, (at) => store.setOffset('pk/dn', 'default', 0, at, size, ''));
  await downloadAttempt(file, { url, size, idleTimeoutMs: 30_000, signal: new AbortController().signal });
  const digest = file.digest();
  await file.close();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const peak = status('VmHWM');
  db.close();
  rmSync(join(dir, 'fw.bin'), { force: true });
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRssDelta: Math.max(0, peak - before), digest };
}

async function curlDownload(url: string, dir: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  await promisify(execFile)('curl', ['-s', '-f', '-o', join(dir, 'curl.bin'), url]);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  rmSync(join(dir, 'curl.bin'), { force: true });
  return s;
}

/** SHA-256 of the body the server holds, computed here chunk by chunk (this process never holds the body). */
function expectedDigest(size: number): string {
  const h = createHash('sha256');
  for (let at = 0; at < size; at += 4 * MB) h.update(patternChunk(at, Math.min(4 * MB, size - at)));
  return h.digest('hex');
}

interface Server {
  ask<T>(m: unknown): Promise<T>;
  stop(): Promise<void>;
}

async function startServer(): Promise<{ server: Server; httpUrl: string }> {
  const child = fork(join(__dirname, 'ota-server.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const replies: ((m: unknown) => void)[] = [];
  child.on('message', (m) => replies.shift()?.(m));
  const next = <T>() => new Promise<T>((resolve) => replies.push(resolve as (m: unknown) => void));
  const ready = next<{ ready: string }>();
  const failed = new Promise<never>((_r, reject) => child.once('exit', (code) => reject(new Error(`the simulator child exited with ${code}`))));
  const { ready: httpUrl } = await Promise.race([ready, failed]);
  const server: Server = {
    ask: <T>(m: unknown) => {
      const r = next<T>();
      child.send(m as string);
      return Promise.race([r, failed]);
    },
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.send('stop');
      await exited;
    },
  };
  return { server, httpUrl };
}

const list = (xs: number[], f: (x: number) => string) => `${xs.map(f).join(', ')} (median ${f(median(xs))})`;

async function main(): Promise<void> {
  const { server, httpUrl } = await startServer();
  const iot = createIotClient(httpUrl);
  const dir = mkdtempSync(join(tmpdir(), 'bench-ota-'));
  console.log(`bench:ota: block ${BLOCK} bytes, ${ROUNDS} rounds per size; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  try {
    const big = Number(process.env.BENCH_OTA_MB ?? 200) * MB;
    const rss: Record<number, number[]> = {};
    let bigRatios: number[] = [];
    for (const size of [big / 4, big]) {
      const expected = expectedDigest(size);
      const { firmwareUrl } = await server.ask<{ firmwareUrl: string }>({ put: size });
      const res = await iot.createOTAFirmware(new $Iot.CreateOTAFirmwareRequest({ productKey: PK, destVersion: `b${size}`, firmwareName: 'bench', signMethod: 'SHA256', firmwareUrl }));
      const { url } = await server.ask<{ url: string }>({ url: res.body!.data!.firmwareId! });
      const agent: Run[] = [];
      const curl: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        const a = async () => {
          const run = await agentDownload(url, size, dir);
          if (run.digest !== expected) throw new Error('digest mismatch in the benchmark');
          agent.push(run);
        };
        const c = async () => void curl.push(await curlDownload(url, dir));
        if (r % 2 === 0) await c().then(a);
        else await a().then(c);
      }
      rss[size] = agent.map((a) => a.peakRssDelta);
      const mbps = (s: number) => (size / MB / s).toFixed(0);
      const ratios = agent.map((a, i) => curl[i]! / a.seconds);
      console.log(`${size / MB} MB: agent MB/s ${list(agent.map((a) => a.seconds), mbps)}; curl MB/s ${list(curl, mbps)}`);
      console.log(`  ratio agent/curl ${list(ratios, (x) => x.toFixed(2))}; agent CPU per wall second ${list(agent.map((a) => a.cpuSeconds / a.seconds), (x) => x.toFixed(2))}`);
      if (size === big) bigRatios = ratios;
    }
    const rssMb = (xs: number[]) => list(xs, (x) => (x / MB).toFixed(1));
    console.log(`peak RSS above the start of the download (MB): ${big / 4 / MB} MB file ${rssMb(rss[big / 4]!)}; ${big / MB} MB file ${rssMb(rss[big]!)}`);
    console.log(`throughput ratio (${big / MB} MB, goal >= 0.9): ${median(bigRatios).toFixed(2)}; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await server.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
