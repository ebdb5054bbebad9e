/**
 * bench:gateway, part (a): property sets per second on one gateway (the agent CLI) with 100 sub-devices, the
 * sets spread round-robin over the sub-devices (their driver writes each to `ctx.state` before the 200) against
 * the same load on the gateway's own properties (the built-in property store, which does the same). A raw MQTT.js
 * cloud (bench/gateway-cloud.ts) keeps BENCH_WINDOW sets outstanding; the two loads take turns in slices of
 * BENCH_SLICE_MS, so the machine's background load falls on both alike; the gateway's CPU per set from /proc.
 * BENCH_GATEWAY_SETS_BROKER=managed runs it on the simulator's mosquitto instead of the embedded broker.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CLOUD_CLIENT, SetCloud } from './gateway-cloud';
import { spawnCliGateway, type CliGateway } from './gateway-devices';
import { PlatformLedger } from './fleet/ledger';
import { sleep } from './fleet/fleet';
import { startWorld, type FleetGateway, type World } from './fleet/world';
import { procCpuUs } from './proc';
import { withTimeout } from './stats';
import type { DeviceIdentity } from '../thing-model/wire';

const SUBS = 100;
const WINDOW = Number(process.env.BENCH_WINDOW ?? 64);
const SLICE_MS = Number(process.env.BENCH_SLICE_MS ?? 500);
const SLICES = Number(process.env.BENCH_SLICES ?? 6);
const PROF_DIR = process.env.BENCH_CPU_PROF;
// The embedded broker by default; `managed` runs the same load on the simulator's mosquitto, where the broker's
// own matching and ACL work is outside this process and costs an own and a sub-device set alike.
const SETS_BROKER = (process.env.BENCH_GATEWAY_SETS_BROKER ?? 'embedded') as 'managed' | 'embedded';

export type SetLoad = 'own' | 'subs';

export interface SetsRound {
  /** Sets per second on the gateway's own properties, and spread over the sub-devices. */
  own: number;
  subs: number;
  /** Gateway CPU per set, µs. */
  ownCpuUs: number;
  subsCpuUs: number;
  /** This process's CPU per set, µs: the platform's side (the embedded broker, the simulator) and the cloud client. */
  ownPlatformCpuUs: number;
  subsPlatformCpuUs: number;
}

export class SetsBench {
  private n = 0;

  private constructor(
    private readonly world: World,
    private readonly cli: CliGateway,
    private readonly cloud: SetCloud,
    private readonly gw: FleetGateway,
  ) {}

  static async start(): Promise<SetsBench> {
    const world = await startWorld({ gateways: 1, subDevices: SUBS, tsls: [], broker: SETS_BROKER, serviceClients: [CLOUD_CLIENT] });
    const gw = world.gateways[0] as FleetGateway;
    const ledger = new PlatformLedger(world.sim, world.products);
    const cli = spawnCliGateway(world, gw, SUBS, 'sets');
    const ids = [gw.id, ...gw.subs.map((s) => s.id)].map((d) => `${d.productKey}/${d.deviceName}`);
    const deadline = Date.now() + 60_000;
    while (!ids.every((k) => ledger.online.has(k))) {
      if (Date.now() > deadline) throw new Error(`the gateway and its ${SUBS} sub-devices not online after 60 s`);
      await sleep(20);
    }
    ledger.close();
    const bench = new SetsBench(world, cli, await SetCloud.connect(world.mqttUrl), gw);
    // Each sub-device's router is built on its first message (agent/gateway/traffic/routers.ts): warm up long enough
    // for every one of them to have had sets, and for the JIT.
    for (const load of ['own', 'subs', 'own', 'subs'] as const) await bench.slice(load, 1000);
    return bench;
  }

  /** The next set of a load: the gateway's WorkMode, or the next sub-device's set property. */
  private next(load: SetLoad): [DeviceIdentity, Record<string, unknown>] {
    const i = this.n++;
    if (load === 'own') return [this.gw.id, { WorkMode: i % 3 }];
    const s = this.gw.subs[i % this.gw.subs.length] as FleetGateway['subs'][number];
    return [s.id, { [s.product.setProperty]: s.product.setValues[Math.floor(i / this.gw.subs.length) % s.product.setValues.length] }];
  }

  /** WINDOW sets outstanding for `ms`: what was answered in that time and the gateway's CPU; then drains. */
  private async slice(load: SetLoad, ms: number): Promise<{ done: number; seconds: number; cpuUs: number; platformCpuUs: number }> {
    let counting = true;
    let stop = false;
    let done = 0;
    let failed = 0;
    const worker = async () => {
      while (!stop) {
        const [d, params] = this.next(load);
        const code = await withTimeout(this.cloud.set(d, params), 10_000, 'a property set');
        if (code !== 200) failed++;
        if (counting) done++;
      }
    };
    const pid = this.cli.proc.pid as number;
    const cpu0 = procCpuUs(pid);
    const own0 = process.cpuUsage();
    const t0 = performance.now();
    const mono0 = process.hrtime.bigint();
    const workers = Array.from({ length: WINDOW }, worker);
    await sleep(ms);
    counting = false;
    const seconds = (performance.now() - t0) / 1000;
    const counted = done;
    const cpuUs = procCpuUs(pid) - cpu0;
    const platform = process.cpuUsage(own0);
    // The gateway's CPU profile (BENCH_CPU_PROF) counts time on the same monotonic clock: the slices let
    // bench/profile-split.ts split its samples by load.
    if (PROF_DIR) appendFileSync(join(PROF_DIR, 'sets-slices.jsonl'), `${JSON.stringify({ load, sets: counted, fromUs: Number(mono0 / 1000n), toUs: Number(process.hrtime.bigint() / 1000n) })}\n`);
    stop = true;
    await Promise.all(workers);
    if (failed) throw new Error(`${load}: ${failed} property sets were not answered with 200`);
    return { done: counted, seconds, cpuUs, platformCpuUs: platform.user + platform.system };
  }

  /** One round: SLICES slices of each load, taking turns (which goes first alternates by round). */
  async round(r: number): Promise<SetsRound> {
    const sum = { own: { done: 0, seconds: 0, cpuUs: 0, platformCpuUs: 0 }, subs: { done: 0, seconds: 0, cpuUs: 0, platformCpuUs: 0 } };
    const order: SetLoad[] = r % 2 === 0 ? ['own', 'subs'] : ['subs', 'own'];
    for (let i = 0; i < SLICES; i++) {
      for (const load of order) {
        const s = await this.slice(load, SLICE_MS);
        sum[load].done += s.done;
        sum[load].seconds += s.seconds;
        sum[load].cpuUs += s.cpuUs;
        sum[load].platformCpuUs += s.platformCpuUs;
      }
    }
    return {
      own: sum.own.done / sum.own.seconds,
      subs: sum.subs.done / sum.subs.seconds,
      ownCpuUs: sum.own.cpuUs / sum.own.done,
      subsCpuUs: sum.subs.cpuUs / sum.subs.done,
      ownPlatformCpuUs: sum.own.platformCpuUs / sum.own.done,
      subsPlatformCpuUs: sum.subs.platformCpuUs / sum.subs.done,
    };
  }

  async stop(): Promise<void> {
    await this.cloud.end();
    await this.cli.stop();
    await this.world.stop();
  }
}
