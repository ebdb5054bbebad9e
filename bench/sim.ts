/**
 * `npm run bench:sim`: how fast the simulator answers the official SDK.
 *
 * - RRpc round trips through `@alicloud/iot20180120` against a raw MQTT.js echo device, beside a baseline of raw
 *   MQTT.js request/echo round trips on the same broker to the same device (a service client publishing on the
 *   device's RRPC topic and waiting for its answer);
 * - Pub calls through the SDK, beside raw MQTT.js publishes to the same device (timed until the device's echo);
 * - both SDK calls at the seeds' rates (RRpc 1000/s, Pub 1600/s; open loop, latency from the scheduled start);
 * - RRpc and Pub through the SDK with the simulator on its managed MQTT 5 broker (mosquitto with the Alink plugin)
 *   against the embedded broker (goal ≥ 0.9), and the CONNECT rate of the managed broker's auth plugin against a
 *   plain mosquitto with no auth (goal ≥ 0.8): both sides run side by side in alternating short rounds
 *   (bench/paired.ts), giving per-pair ratios, their median, and each side's CPU per operation; beside them, the
 *   raw request/echo round trip on both brokers, which is the cost of the out-of-process hop alone.
 *
 * The simulator and the echo device run in a child process, the load (SDK or raw client) in this one, so the
 * two do not share an event loop; the child reports its own CPU time, giving the simulator's cost per call
 * independently of how busy the machine is. Options: --seconds N (closed-loop phase length, default 4),
 * --concurrency N (default 32), --pairs N (default 7), --round-seconds N (default 1), --json (only the JSON
 * summary line).
 */
import { ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as $Iot from '@alicloud/iot20180120';
import { connect, connectAsync, MqttClient } from 'mqtt';
import pino from 'pino';
import { CloudSimulator } from '../simulator/cloud-simulator';
import { createIotClient, longCallRuntime } from '../simulator/sdk-client';
import { buildCredentials } from '../thing-model/wire';
import { startMosquitto } from './brokers';
import { BENCH_DEVICE_COUNT, benchDeviceName, connectRate } from './connect-rate';
import { childPid, closedLoop, comparePaired, Contender, describePaired, PairedSummary, procCpuMs } from './paired';
import { percentile } from './stats';

const PK = 'a1GwDemo01';
const DN = 'gw-001';
const SECRET = '3f6c0a9d27b84e1c95d2a7e41b08c6f3';
const SERVICE = { username: 'bench', password: 'bench-password' };
const CHILD_FLAG = '--simulator-child';

type Kind = 'rrpc-sdk' | 'rrpc-raw' | 'pub-sdk' | 'pub-raw';

interface Phase {
  name: string;
  kind: Kind;
  /** Closed loop: this many calls in flight. */
  concurrency: number;
  durationMs: number;
  /** Open loop: calls per second, each timed from its scheduled start. */
  rate?: number;
}

interface Summary {
  phase: string;
  qps: number;
  p50: number;
  p99: number;
  calls: number;
  errors: number;
  /** CPU time of the simulator process (with its echo device) per call, ms. */
  simCpuMsPerCall: number;
  /** CPU time of the load process (the SDK or the raw client) per call, ms. */
  clientCpuMsPerCall: number;
}

// ---- the simulator process ----------------------------------------------------------------------------------

/** The example TSL, from bench/ (run through ts-register) or from dist/bench/ (built). */
function tslPath(): string {
  const candidates = [join(__dirname, '..', 'simulator', 'tsl', 'example-gateway.json'), join(__dirname, '..', '..', 'simulator', 'tsl', 'example-gateway.json')];
  return candidates.find((p) => existsSync(p)) ?? candidates[0]!;
}

async function echoDevice(mqttUrl: string): Promise<MqttClient> {
  const creds = buildCredentials({ productKey: PK, deviceName: DN, deviceSecret: SECRET, signMethod: 'hmacsha256', secureMode: 3, timestamp: Date.now() });
  const device = connect(mqttUrl, { ...creds, reconnectPeriod: 0 });
  await new Promise<void>((resolve, reject) => {
    device.once('connect', () => resolve());
    device.once('error', reject);
  });
  await device.subscribeAsync([`/sys/${PK}/${DN}/rrpc/request/+`, `/${PK}/${DN}/user/#`]);
  device.on('message', (topic, payload) => {
    if (topic.includes('/rrpc/request/')) device.publish(topic.replace('/request/', '/response/'), payload);
    else if (topic.endsWith('/bench-raw')) device.publish(`/${PK}/${DN}/user/echo`, payload);
  });
  return device;
}

async function simulatorChild(mode: 'embedded' | 'managed'): Promise<void> {
  const bench = Array.from({ length: BENCH_DEVICE_COUNT }, (_, i) => ({ productKey: PK, deviceName: benchDeviceName(i), deviceSecret: SECRET }));
  const sim = new CloudSimulator(
    {
      accessKeys: [{ id: 'testAK', secret: 'testSecret' }],
      products: [{ tsl: tslPath() }],
      devices: [{ productKey: PK, deviceName: DN, deviceSecret: SECRET }, ...bench],
      mqtt: { mode, serviceClients: [SERVICE] },
      limits: { qps: { RRpc: 1_000_000, Pub: 1_000_000 }, replyHistory: 100 },
    },
    { logger: pino({ level: 'warn' }) },
  );
  const urls = await sim.start();
  const device = await echoDevice(urls.mqttUrl);
  process.on('message', (m: string) => {
    if (m === 'cpu') {
      const u = process.cpuUsage();
      process.send!({ cpuMs: (u.user + u.system) / 1000 });
    } else if (m === 'stop') {
      void device.endAsync().then(() => sim.stop()).then(() => process.exit(0));
    }
  });
  process.send!({ ready: urls });
}

// ---- the load -----------------------------------------------------------------------------------------------

async function makeCall(kind: Kind, urls: { httpUrl: string; mqttUrl: string }): Promise<{ call: () => Promise<void>; close: () => Promise<void> }> {
  if (kind === 'rrpc-sdk' || kind === 'pub-sdk') {
    const client = createIotClient(urls.httpUrl);
    const runtime = longCallRuntime(10_000);
    const payload = Buffer.from('{"op":"ping"}').toString('base64');
    const call =
      kind === 'rrpc-sdk'
        ? async () => {
            const r = await client.rRpcWithOptions(new $Iot.RRpcRequest({ productKey: PK, deviceName: DN, requestBase64Byte: payload, timeout: 5000 }), runtime);
            if (r.body.rrpcCode !== 'SUCCESS') throw new Error(`RrpcCode ${r.body.rrpcCode}`);
          }
        : async () => {
            const r = await client.pubWithOptions(new $Iot.PubRequest({ productKey: PK, topicFullName: `/${PK}/${DN}/user/bench`, messageContent: payload, qos: 0 }), runtime);
            if (!r.body.success) throw new Error(`Pub ${r.body.code}`);
          };
    return { call, close: async () => undefined };
  }
  const raw = await connectAsync(urls.mqttUrl, { ...SERVICE, clientId: `bench-${kind}`, reconnectPeriod: 0 });
  const waiting = new Map<string, () => void>();
  const settle = (id: string) => {
    waiting.get(id)?.();
    waiting.delete(id);
  };
  let next = 1;
  if (kind === 'rrpc-raw') {
    await raw.subscribeAsync(`/sys/${PK}/${DN}/rrpc/response/+`);
    raw.on('message', (topic) => settle(topic.slice(topic.lastIndexOf('/') + 1)));
    const call = () =>
      new Promise<void>((resolve) => {
        const id = `raw${next++}`;
        waiting.set(id, resolve);
        raw.publish(`/sys/${PK}/${DN}/rrpc/request/${id}`, '{"op":"ping"}');
      });
    return { call, close: () => raw.endAsync() };
  }
  await raw.subscribeAsync(`/${PK}/${DN}/user/echo`);
  raw.on('message', (_t, payload) => settle(payload.toString()));
  const call = () =>
    new Promise<void>((resolve) => {
      const id = `p${next++}`;
      waiting.set(id, resolve);
      raw.publish(`/${PK}/${DN}/user/bench-raw`, id);
    });
  return { call, close: () => raw.endAsync() };
}

async function runPhase(phase: Phase, urls: { httpUrl: string; mqttUrl: string }, simCpu: () => Promise<number>): Promise<Summary & { firstError?: string }> {
  const { call, close } = await makeCall(phase.kind, urls);
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const fail = (e: unknown) => {
    errors++;
    firstError ??= (e as Error).message;
  };
  const cpu0 = await simCpu();
  const own0 = process.cpuUsage();
  const started = performance.now();
  const end = started + phase.durationMs;
  if (phase.rate) {
    const interval = 1000 / phase.rate;
    const inflight: Promise<void>[] = [];
    for (let i = 0; ; i++) {
      const scheduled = started + i * interval;
      if (scheduled >= end) break;
      const wait = scheduled - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      inflight.push(call().then(() => void latencies.push(performance.now() - scheduled), fail));
    }
    await Promise.all(inflight);
  } else {
    await Promise.all(
      Array.from({ length: phase.concurrency }, async () => {
        while (performance.now() < end) {
          const t0 = performance.now();
          try {
            await call();
            latencies.push(performance.now() - t0);
          } catch (e) {
            fail(e);
          }
        }
      }),
    );
  }
  const seconds = (performance.now() - started) / 1000;
  const own = process.cpuUsage(own0);
  const cpu1 = await simCpu();
  await close();
  const sorted = latencies.sort((a, b) => a - b);
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    phase: phase.name,
    qps: Math.round(latencies.length / seconds),
    p50: r2(percentile(sorted, 50)),
    p99: r2(percentile(sorted, 99)),
    calls: latencies.length,
    errors,
    simCpuMsPerCall: latencies.length ? Math.round(((cpu1 - cpu0) / latencies.length) * 1000) / 1000 : NaN,
    clientCpuMsPerCall: latencies.length ? Math.round(((own.user + own.system) / 1000 / latencies.length) * 1000) / 1000 : NaN,
    ...(firstError ? { firstError } : {}),
  };
}

interface Child {
  urls: { httpUrl: string; mqttUrl: string };
  pid: number;
  simCpu(): Promise<number>;
  stop(): Promise<void>;
}

/** The simulator (with its echo device) in a child process, on the given broker mode. */
async function startChild(mode: 'embedded' | 'managed'): Promise<Child> {
  const child: ChildProcess = fork(__filename, [CHILD_FLAG, mode], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const replies: ((m: { cpuMs?: number; ready?: { httpUrl: string; mqttUrl: string } }) => void)[] = [];
  child.on('message', (m: { cpuMs?: number }) => replies.shift()?.(m));
  const ask = <T>(m?: string) =>
    new Promise<T>((resolve) => {
      replies.push(resolve as never);
      if (m) child.send(m);
    });
  const { ready: urls } = await ask<{ ready: { httpUrl: string; mqttUrl: string } }>();
  return {
    urls,
    pid: child.pid!,
    simCpu: async () => (await ask<{ cpuMs: number }>('cpu')).cpuMs,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.send('stop');
      await exited;
    },
  };
}

/** CPU ms of the processes serving a side, by name: the simulator child and, in managed mode, its mosquitto. */
function serverCpu(child: Child, mosquittoPid?: number): () => Promise<Record<string, number>> {
  return async () => ({ simulator: await child.simCpu(), ...(mosquittoPid ? { mosquitto: procCpuMs(mosquittoPid) } : {}) });
}

const diff = (a: Record<string, number>, b: Record<string, number>) => Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - (a[k] ?? 0)]));

/** One side of a broker comparison: closed-loop calls of one kind (SDK or raw MQTT) against one simulator. */
async function callContender(name: string, kind: Kind, child: Child, concurrency: number, mosquittoPid?: number): Promise<Contender & { close(): Promise<void> }> {
  const { call, close } = await makeCall(kind, child.urls);
  const cpu = serverCpu(child, mosquittoPid);
  return {
    name,
    close,
    round: async (ms) => {
      const c0 = await cpu();
      const r = await closedLoop(call, concurrency, ms);
      return { ...r, cpuMs: diff(c0, await cpu()) };
    },
  };
}

/** One side of the CONNECT comparison: the broker's own CPU is its cost; the simulator's presence work is shown. */
function connectContender(name: string, url: string, mosquittoPid: number, sim?: Child): Contender {
  return {
    name,
    round: async (ms) => {
      const m0 = procCpuMs(mosquittoPid);
      const s0 = await sim?.simCpu();
      const own0 = process.cpuUsage();
      const r = await connectRate(name, url, PK, SECRET, ms);
      const own = process.cpuUsage(own0);
      const info: Record<string, number> = { client: (own.user + own.system) / 1000 };
      if (sim) info['simulator (presence)'] = (await sim.simCpu()) - s0!;
      return { ops: r.connects, seconds: r.seconds, errors: r.errors, ...(r.firstError ? { firstError: r.firstError } : {}), cpuMs: { mosquitto: procCpuMs(mosquittoPid) - m0 }, infoCpuMs: info };
    },
  };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const num = (flag: string, dflt: number) => {
    const i = args.indexOf(flag);
    return i >= 0 && args[i + 1] ? Number(args[i + 1]) : dflt;
  };
  const ms = num('--seconds', 4) * 1000;
  const concurrency = num('--concurrency', 32);
  // An odd number of pairs: the median is then one pair's own ratio.
  const pairs = num('--pairs', 7);
  const roundMs = num('--round-seconds', 1) * 1000;
  const say = (s: string) => (args.includes('--json') ? undefined : console.log(s));

  const phases: Phase[] = [
    { name: 'warm-up', kind: 'rrpc-sdk', concurrency: 8, durationMs: 500 },
    { name: 'warm-up', kind: 'pub-sdk', concurrency: 8, durationMs: 500 },
    { name: `RRpc via SDK, ${concurrency} in flight`, kind: 'rrpc-sdk', concurrency, durationMs: ms },
    { name: `raw MQTT request/echo, ${concurrency} in flight`, kind: 'rrpc-raw', concurrency, durationMs: ms / 2 },
    { name: `Pub via SDK, ${concurrency} in flight`, kind: 'pub-sdk', concurrency, durationMs: ms },
    { name: `raw MQTT publish/echo, ${concurrency} in flight`, kind: 'pub-raw', concurrency, durationMs: ms / 2 },
    { name: 'RRpc via SDK at 1000/s', kind: 'rrpc-sdk', concurrency: 0, durationMs: 3000, rate: 1000 },
    { name: 'Pub via SDK at 1600/s', kind: 'pub-sdk', concurrency: 0, durationMs: 3000, rate: 1600 },
  ];
  const results: Summary[] = [];
  const embedded = await startChild('embedded');
  const managed = await startChild('managed');
  const plain = await startMosquitto();
  // The managed broker's logging (connection lines on stderr, which give the simulator the graceful flag) on a
  // plain broker: what the plugin itself adds to a CONNECT is the difference from this one.
  const logged = await startMosquitto(['log_dest stderr', 'log_type error', 'log_type warning', 'log_type notice', 'connection_messages true']);
  const paired: PairedSummary[] = [];
  try {
    for (const phase of phases) {
      const r = await runPhase(phase, embedded.urls, embedded.simCpu);
      if (r.errors) say(`  ${phase.name}: ${r.errors} errors (first: ${r.firstError})`);
      if (phase.name !== 'warm-up') results.push(r);
    }
    const managedMosquitto = childPid(managed.pid, 'mosquitto');
    if (!managedMosquitto) throw new Error('the managed simulator has no mosquitto child');
    // The raw pairing is the out-of-process hop alone: the same request/echo round trip with no SDK, HTTP or RRpc logic.
    for (const [label, kind] of [['RRpc via SDK', 'rrpc-sdk'], ['Pub via SDK', 'pub-sdk'], ['raw MQTT request/echo', 'rrpc-raw']] as const) {
      const a = await callContender('embedded', kind, embedded, concurrency);
      const b = await callContender('managed MQTT 5', kind, managed, concurrency, managedMosquitto);
      paired.push(await comparePaired(`${label}, ${concurrency} in flight: managed MQTT 5 vs embedded`, a, b, pairs, roundMs));
      await Promise.all([a.close(), b.close()]);
    }
    const noAuth = connectContender('mosquitto, no auth', plain.url, plain.pid);
    const withPlugin = connectContender('managed mosquitto, Alink auth plugin', managed.urls.mqttUrl, managedMosquitto, managed);
    paired.push(await comparePaired('CONNECT → CONNACK → DISCONNECT, 32 devices: Alink auth plugin vs no auth', noAuth, withPlugin, pairs, roundMs));
    const loggedNoAuth = connectContender('mosquitto, no auth, connection log on', logged.url, logged.pid);
    paired.push(await comparePaired('CONNECT → CONNACK → DISCONNECT, 32 devices: Alink auth plugin vs no auth with the same connection log', loggedNoAuth, withPlugin, pairs, roundMs));
  } finally {
    await Promise.all([embedded.stop(), managed.stop(), plain.stop(), logged.stop()]);
  }

  const [rrpc, rrpcRaw, pub, pubRaw, rrpcPaced, pubPaced] = results;
  say('');
  say(`${'phase (embedded broker)'.padEnd(48)} calls/s   p50 ms   p99 ms   calls  errors  CPU ms/call: sim  client`);
  for (const r of results) {
    say(`${r.phase.padEnd(48)} ${String(r.qps).padStart(7)} ${r.p50.toFixed(2).padStart(8)} ${r.p99.toFixed(2).padStart(8)} ${String(r.calls).padStart(7)} ${String(r.errors).padStart(7)} ${r.simCpuMsPerCall.toFixed(3).padStart(17)} ${r.clientCpuMsPerCall.toFixed(3).padStart(7)}`);
  }
  const ratio = (a?: Summary, b?: Summary) => (a && b ? Math.round((a.qps / b.qps) * 1000) / 1000 : NaN);
  const [rrpcPaired, pubPaired, rawPaired, connectPaired, connectLoggedPaired] = paired;
  const ratios = {
    rrpcSdkVsRaw: ratio(rrpc, rrpcRaw),
    pubSdkVsRaw: ratio(pub, pubRaw),
    rrpcManagedVsEmbedded: rrpcPaired?.medianRatio,
    rrpcManagedVsEmbeddedCpu: rrpcPaired?.cpuRatio,
    pubManagedVsEmbedded: pubPaired?.medianRatio,
    pubManagedVsEmbeddedCpu: pubPaired?.cpuRatio,
    rawManagedVsEmbedded: rawPaired?.medianRatio,
    rawManagedVsEmbeddedCpu: rawPaired?.cpuRatio,
    connectPluginVsNoAuth: connectPaired?.medianRatio,
    connectPluginVsNoAuthCpu: connectPaired?.cpuRatio,
    connectPluginVsLoggedNoAuth: connectLoggedPaired?.medianRatio,
    connectPluginVsLoggedNoAuthCpu: connectLoggedPaired?.cpuRatio,
  };
  say('');
  say(`SDK RRpc: ${ratios.rrpcSdkVsRaw}× the calls/s of the raw MQTT round trip; SDK Pub: ${ratios.pubSdkVsRaw}× raw publish/echo.`);
  say(`Seed rates: RRpc 1000/s → ${rrpcPaced?.qps}/s, p99 ${rrpcPaced?.p99} ms; Pub 1600/s → ${pubPaced?.qps}/s, p99 ${pubPaced?.p99} ms (goal: p99 < 20 ms).`);
  const capacity = (r?: Summary) => (r ? Math.round(1000 / r.simCpuMsPerCall) : NaN);
  say(`Simulator capacity from its CPU per call (one core): RRpc ≈ ${capacity(rrpcPaced)}/s, Pub ≈ ${capacity(pubPaced)}/s.`);
  say('');
  say(`Paired rounds (${pairs} pairs of ${roundMs / 1000} s, order AB BA …; CPU per op is the verdict that load does not move):`);
  for (const p of paired) for (const line of describePaired(p, p === rawPaired ? undefined : p === connectPaired || p === connectLoggedPaired ? 0.8 : 0.9)) say(line);
  say(`Load average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} on ${os.cpus().length} cores.`);
  console.log(JSON.stringify({ bench: 'sim', results, paired, ratios, load: os.loadavg(), cpus: os.cpus().length }));
}

if (process.argv.includes(CHILD_FLAG)) {
  simulatorChild(process.argv.includes('managed') ? 'managed' : 'embedded').catch((e: Error) => {
    console.error(e.stack ?? e.message);
    process.exit(1);
  });
} else {
  main().then(
    () => process.exit(0),
    (e: Error) => {
      console.error(e.stack ?? e.message);
      process.exit(1);
    },
  );
}
