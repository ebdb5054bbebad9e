/**
 * Agent benchmark (`npm run bench:agent`). On one mosquitto started here (loopback, free port, set_tcp_nodelay),
 * a raw MQTT.js "cloud" client in this process drives four devices, each a process of its own
 * (bench/agent-devices.ts):
 *
 *   echo     a plain MQTT.js client that JSON-parses each request and publishes the reply (the floor; its RSS
 *            connected is the footprint baseline)
 *   sdk      the official device SDK (alibabacloud-iot-device-sdk 1.2.8), its onProps answered with a set_reply
 *            published by hand (docs/protocol/sdk-faults.md, "Node SDK": the SDK sends none itself), RRPC through its
 *            onService(..., reply 'sync')
 *   agent    this agent in-process without its durable stores (`stores: () => ({})`): TSL validation, the built-in
 *            property store, set_reply, and the post-after-set policy (the new values of the sets of one loop turn
 *            in one property post, which the cloud here answers like the platform)
 *   durable  the default agent: the CLI (`dist/agent/cli/main.js run`) on a config file with only the required keys
 *            and the bench's Calibrate plugin, so the durable outbox and inbox in `{dataDir}/agent.db` and the
 *            built-in property store, as shipped
 *
 * Every device answers RRPC with the same handler (bench/bench-plugin.ts: awaits BENCH_RRPC_HANDLER_MS, default 2).
 *
 * 1. Property-set round trips per second: `thing.service.property.set` requests with BENCH_WINDOW outstanding,
 *    for BENCH_DURATION_MS per device after a warm-up, the devices taking turns in slices of BENCH_SLICE_MS
 *    (default 500) so that the machine's background load falls on all of them alike; every reply is checked
 *    (code 200, same id). Device CPU per set from process.cpuUsage (forked devices) or /proc/PID/stat (the CLI).
 * 2. RRPC latency: one sync service call (Calibrate over `/rrpc/request/{id}`) at a time, the devices called in
 *    turn, call by call (interleaved), p50/p99 per device.
 * 3. Connected RSS (VmRSS) of each device after its first answered set and SETTLE_MS, before any load.
 * Every measurement runs BENCH_REPEAT times (default 3), fresh processes each run; medians are printed with the
 * goals (issue 12): (a) durable / sdk property sets/s >= 1.0; (b) agent / sdk >= 1.2; (c) RRPC durable - sdk p50
 * <= 0 and p99 <= 0.5 ms; (d) durable RSS - echo RSS <= 12 MB.
 * Env: BENCH_DURATION_MS (default 3000), BENCH_WINDOW (default 64), BENCH_RRPC_CALLS (default 1000), BENCH_REPEAT,
 * BENCH_ROLES (default echo,sdk,agent,durable), BENCH_LOG (the agents' log level, default warn), BENCH_CPU_PROF
 * (a folder for V8 CPU profiles of the devices; BENCH_CPU_PROF_INTERVAL their sampling interval in µs, V8's default
 * 1000 samples a 50 µs path too coarsely), BENCH_RRPC_HANDLER_MS.
 */
import { ChildProcess, fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Cloud } from './agent-cloud';
import { child, cpuProfArgs, spawnCli, type Role } from './agent-devices';
import { startMosquitto } from './brokers';
import { median, percentile, withTimeout } from './stats';
import { procCpuUs, rssMb } from './proc';

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 3000);
const WARMUP_MS = 700;
const SLICE_MS = Number(process.env.BENCH_SLICE_MS ?? 500);
const WINDOW = Number(process.env.BENCH_WINDOW ?? 64);
const RRPC_CALLS = Number(process.env.BENCH_RRPC_CALLS ?? 1000);
const SETTLE_MS = 1000;
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const ALL_ROLES: Role[] = ['echo', 'sdk', 'agent', 'durable'];
const ROLES = (process.env.BENCH_ROLES?.split(',') ?? ALL_ROLES).filter((r): r is Role => (ALL_ROLES as string[]).includes(r));

const cpuMarks = new WeakMap<ChildProcess, number>();

/** Asks the device process for the CPU time it used since the last `cpu-start` (the CLI, which has no IPC: /proc). */
function deviceCpu(proc: ChildProcess, msg: 'cpu-start' | 'cpu-stop'): Promise<number> {
  if (!proc.connected) {
    const now = procCpuUs(proc.pid as number);
    if (msg === 'cpu-start') cpuMarks.set(proc, now);
    return Promise.resolve(now - (cpuMarks.get(proc) ?? now));
  }
  if (msg === 'cpu-start') {
    proc.send(msg);
    return Promise.resolve(0);
  }
  return withTimeout(
    new Promise<number>((r) => {
      const on = (m: unknown) => {
        if (m && typeof m === 'object' && 'cpuUs' in m) {
          proc.off('message', on);
          r((m as { cpuUs: number }).cpuUs);
        }
      };
      proc.on('message', on);
      proc.send(msg);
    }),
    5000,
    'device CPU time',
  );
}

/** What one device did under load, summed over its slices. */
interface Load {
  done: number;
  seconds: number;
  deviceUs: number;
  cloudUs: number;
  posts: number;
}

/** Waits until the device answers a set (the SDK subscribes after CONNACK without telling anyone). */
async function firstSet(cloud: Cloud, dn: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await withTimeout(cloud.set(dn), 500, 'first set');
      break;
    } catch (e) {
      if (i >= 20) throw e;
    }
  }
  cloud.forget();
}

/**
 * Keeps WINDOW property sets outstanding on one device for `ms` and adds what was answered in that time to `into`,
 * with the device's and the cloud's CPU time (which the other processes on the machine disturb less than the
 * rate); then lets the window drain, uncounted.
 */
async function loadSlice(cloud: Cloud, dn: string, proc: ChildProcess, ms: number, into?: Load): Promise<void> {
  let counting = false;
  let done = 0;
  let failed = 0;
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const code = await cloud.set(dn);
      if (code !== 200) failed++;
      if (counting) done++;
    }
  };
  if (into) await deviceCpu(proc, 'cpu-start');
  const workers = Array.from({ length: WINDOW }, worker);
  counting = true;
  const cloudCpu = process.cpuUsage();
  const posts0 = cloud.posts.get(dn) ?? 0;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const seconds = (performance.now() - t0) / 1000;
  counting = false;
  const counted = done;
  const cloudUsed = process.cpuUsage(cloudCpu);
  const posts = (cloud.posts.get(dn) ?? 0) - posts0;
  const deviceUs = into ? await deviceCpu(proc, 'cpu-stop') : 0;
  stop = true;
  await withTimeout(Promise.all(workers), 10_000, 'draining the window');
  if (failed) throw new Error(`${dn}: ${failed} property sets were not answered with 200`);
  if (into) {
    into.done += counted;
    into.seconds += seconds;
    into.deviceUs += deviceUs;
    into.cloudUs += cloudUsed.user + cloudUsed.system;
    into.posts += posts;
  }
}

/**
 * Property-set throughput of every device of one run. The devices run side by side, idle but the one under load,
 * and take turns in slices of SLICE_MS (the order rotated every round) until each had DURATION_MS: on a shared,
 * noisy machine, devices measured one after the other meet different background load; in turns, they meet the same.
 */
async function throughput(cloud: Cloud, devices: { role: Role; dn: string; proc: ChildProcess }[], rss: Map<Role, number>): Promise<Map<Role, Load>> {
  const loads = new Map<Role, Load>();
  for (const d of devices) await firstSet(cloud, d.dn);
  // Connected, subscribed, one set answered, nothing else yet: the footprint every device starts from.
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  for (const d of devices) rss.set(d.role, rssMb(d.proc.pid as number));
  for (const d of devices) {
    await loadSlice(cloud, d.dn, d.proc, WARMUP_MS);
    loads.set(d.role, { done: 0, seconds: 0, deviceUs: 0, cloudUs: 0, posts: 0 });
  }
  const rounds = Math.max(1, Math.round(DURATION_MS / SLICE_MS));
  for (let i = 0; i < rounds; i++) {
    for (let k = 0; k < devices.length; k++) {
      const d = devices[(i + k) % devices.length] as (typeof devices)[number];
      await loadSlice(cloud, d.dn, d.proc, SLICE_MS, loads.get(d.role));
    }
  }
  return loads;
}

/** One device's RRPC latency percentiles (ms) and its CPU time per call (µs) over the timed calls. */
interface RrpcResult {
  p50: number;
  p99: number;
  cpuUs: number;
}

/**
 * Sequential RRPC calls to several devices running side by side, alternating between them (the order rotated
 * every round): p50 and p99 latency in ms per device, and each device's CPU per call. On a shared, noisy machine,
 * devices measured one after the other meet different background load; alternating call by call, they meet the same.
 */
async function rrpcLatency(cloud: Cloud, devices: { dn: string; proc: ChildProcess }[]): Promise<RrpcResult[]> {
  const dns = devices.map((d) => d.dn);
  for (let i = 0; i < 200; i++) for (const dn of dns) await withTimeout(cloud.rrpc(dn), 2000, 'rrpc warm-up');
  const samples: number[][] = dns.map(() => []);
  for (const d of devices) await deviceCpu(d.proc, 'cpu-start');
  for (let i = 0; i < RRPC_CALLS; i++) {
    for (let k = 0; k < dns.length; k++) {
      const d = (i + k) % dns.length;
      const dn = dns[d] as string;
      const t0 = performance.now();
      const code = await withTimeout(cloud.rrpc(dn), 2000, 'rrpc');
      (samples[d] as number[]).push(performance.now() - t0);
      if (code !== 200) throw new Error(`${dn}: RRPC answered ${code}`);
    }
  }
  const cpu: number[] = [];
  for (const d of devices) cpu.push(await deviceCpu(d.proc, 'cpu-stop'));
  return samples.map((s, k) => {
    s.sort((a, b) => a - b);
    return { p50: percentile(s, 50), p99: percentile(s, 99), cpuUs: (cpu[k] as number) / RRPC_CALLS };
  });
}

const cleanups = new WeakMap<ChildProcess, () => void>();

function startDevice(role: Role, url: string, dn: string): Promise<ChildProcess> {
  if (role === 'durable') {
    // Ready once it answers (firstSet): the CLI tells systemd, not us.
    const { proc, cleanup } = spawnCli(url, dn);
    cleanups.set(proc, cleanup);
    return Promise.resolve(proc);
  }
  // BENCH_CPU_PROF=dir writes a V8 CPU profile of each device process there (for finding the hot path).
  const prof = process.env.BENCH_CPU_PROF ? [...cpuProfArgs(process.env.BENCH_CPU_PROF), `--cpu-prof-name=${role}.cpuprofile`] : [];
  const proc = fork(__filename, ['--device', role, url, dn], { execArgv: [...process.execArgv, ...prof], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return withTimeout(
    new Promise<ChildProcess>((res, rej) => {
      proc.once('message', (m) => (m === 'ready' ? res(proc) : rej(new Error(String(m)))));
      proc.once('exit', (code) => rej(new Error(`${role} device exited with ${code}`)));
    }),
    30_000,
    `${role} device start`,
  );
}

async function stopDevice(proc: ChildProcess): Promise<void> {
  if (proc.exitCode === null && proc.signalCode === null) {
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    if (proc.connected) proc.send('stop');
    else proc.kill('SIGTERM');
    await withTimeout(exited, 10_000, 'device stop').catch(() => proc.kill('SIGKILL'));
  }
  cleanups.get(proc)?.();
}

async function main(): Promise<void> {
  const broker = await startMosquitto();
  const cloud = await Cloud.connect(broker.url);
  const perRole = <T>(): Record<Role, T[]> => ({ echo: [], sdk: [], agent: [], durable: [] });
  const rate = perRole<number>();
  const cpu = perRole<number>();
  const cloudCpu = perRole<number>();
  const rss = perRole<number>();
  const lat = perRole<RrpcResult>();
  console.log(`agent benchmark: mosquitto ${broker.url}, window ${WINDOW}, ${DURATION_MS} ms per run, ${RRPC_CALLS} RRPC calls, ${REPEAT} runs, ${ROLES.join(' ')}`);
  try {
    for (let run = 1; run <= REPEAT; run++) {
      const devices: { role: Role; dn: string; proc: ChildProcess }[] = [];
      try {
        for (const role of ROLES) {
          const dn = `bench-${role}-${run}`;
          devices.push({ role, dn, proc: await startDevice(role, broker.url, dn) });
        }
        const rssNow = new Map<Role, number>();
        const loads = await throughput(cloud, devices, rssNow);
        for (const [role, l] of loads) {
          const r = l.done / l.seconds;
          rate[role].push(r);
          cpu[role].push(l.deviceUs / l.done);
          cloudCpu[role].push(l.cloudUs / l.done);
          rss[role].push(rssNow.get(role) ?? NaN);
          let line = `run ${run} ${role.padEnd(7)} ${r.toFixed(0).padStart(7)} property sets/s, ${(l.deviceUs / l.done).toFixed(0).padStart(4)} µs device CPU each (cloud ${(l.cloudUs / l.done).toFixed(0)} µs), RSS connected ${(rssNow.get(role) ?? NaN).toFixed(1)} MB`;
          if (l.posts > 0) line += `, ${(l.posts / l.done).toFixed(2)} posts/set`;
          console.log(line);
        }
        const ls = await rrpcLatency(cloud, devices);
        devices.forEach((d, k) => {
          const l = ls[k] as RrpcResult;
          lat[d.role].push(l);
          console.log(`run ${run} ${d.role.padEnd(7)} RRPC p50 ${l.p50.toFixed(3)} ms, p99 ${l.p99.toFixed(3)} ms, ${l.cpuUs.toFixed(0)} µs device CPU per call`);
        });
      } finally {
        cloud.forget();
        for (const d of devices) await stopDevice(d.proc);
      }
    }
  } finally {
    await cloud.end();
    await broker.stop();
  }
  const ran = ROLES.filter((r) => rate[r].length > 0);
  const m = (r: Role) => median(rate[r]);
  const fmt = (pick: (r: Role) => string) => ran.map((r) => `${r} ${pick(r)}`).join(', ');
  const runs = (xs: number[], digits: number) => `[${xs.map((x) => x.toFixed(digits)).join(' ')}]`;
  console.log('\nmedians of', REPEAT, 'runs (each run\'s figure in brackets)');
  console.log(`  property sets/s   ${fmt((r) => `${m(r).toFixed(0)} ${runs(rate[r], 0)}`)}`);
  console.log(`  device CPU/set    ${fmt((r) => `${median(cpu[r]).toFixed(0)} µs`)}`);
  console.log(`  cloud CPU/set     ${fmt((r) => `${median(cloudCpu[r]).toFixed(0)} µs`)}`);
  console.log(`  RSS connected     ${fmt((r) => `${median(rss[r]).toFixed(1)} MB`)}`);
  const p50 = (r: Role) => median(lat[r].map((l) => l.p50));
  const p99 = (r: Role) => median(lat[r].map((l) => l.p99));
  console.log(`  RRPC p50          ${fmt((r) => `${p50(r).toFixed(3)} ms`)}`);
  console.log(`  RRPC p99          ${fmt((r) => `${p99(r).toFixed(3)} ms`)}`);
  console.log(`  RRPC CPU/call     ${fmt((r) => `${median(lat[r].map((l) => l.cpuUs)).toFixed(0)} µs`)}`);
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  // Ratios per run (the devices of one run met the same load), then their median.
  const ratioRuns = (a: Role, b: Role) => rate[a].map((x, i) => x / (rate[b][i] as number));
  const diffRuns = (a: Role, b: Role, pick: (l: { p50: number; p99: number }) => number) => lat[a].map((l, i) => pick(l) - pick(lat[b][i] as { p50: number; p99: number }));
  if (rate.sdk.length) {
    if (rate.durable.length) {
      const r = ratioRuns('durable', 'sdk');
      console.log(`  (a) durable / sdk        ${median(r).toFixed(2)} ${runs(r, 2)}   (goal >= 1.0: ${verdict(median(r) >= 1)})`);
    }
    if (rate.agent.length) {
      const r = ratioRuns('agent', 'sdk');
      console.log(`  (b) agent / sdk          ${median(r).toFixed(2)} ${runs(r, 2)}   (goal >= 1.2: ${verdict(median(r) >= 1.2)})`);
    }
    for (const who of ['durable', 'agent'] as const) {
      if (!lat[who].length) continue;
      const d50 = diffRuns(who, 'sdk', (l) => l.p50);
      const d99 = diffRuns(who, 'sdk', (l) => l.p99);
      const goal = who === 'durable' ? `   (goal p50 <= 0 and p99 <= 0.5 ms: ${verdict(median(d50) <= 0 && median(d99) <= 0.5)})` : '   (information)';
      console.log(`  (c) RRPC ${who.padEnd(7)} - sdk  p50 ${median(d50).toFixed(3)} ms ${runs(d50, 3)}, p99 ${median(d99).toFixed(3)} ms ${runs(d99, 3)}${goal}`);
    }
  }
  if (rss.echo.length) {
    for (const who of ['durable', 'agent', 'sdk'] as const) {
      if (!rss[who].length) continue;
      const d = rss[who].map((x, i) => x - (rss.echo[i] as number));
      const goal = who === 'durable' ? `   (goal <= +12 MB: ${verdict(median(d) <= 12)})` : '   (information)';
      console.log(`  (d) RSS ${who.padEnd(7)} - plain MQTT.js  ${median(d) >= 0 ? '+' : ''}${median(d).toFixed(1)} MB ${runs(d, 1)}${goal}`);
    }
  }
  if (rate.echo.length) console.log(`  against the echo floor   ${ran.filter((r) => r !== 'echo').map((r) => `${r} ${(m(r) / m('echo')).toFixed(2)}`).join(', ')}`);
}

const argv = process.argv.slice(2);
if (argv[0] === '--device') {
  child(argv[1] as Role, argv[2] as string, argv[3] as string).catch((e: unknown) => {
    process.send?.(`failed: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  });
} else if (require.main === module) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(`bench:agent failed: ${(e as Error).stack ?? String(e)}`);
      process.exit(1);
    },
  );
}
