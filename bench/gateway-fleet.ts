/**
 * bench:gateway, part (d): fleet mode per core. Two child processes on the simulator's embedded broker
 * (bench/gateway-host.ts): K real gateway agents with M sub-devices each posting P posts/s per sub-device, and K raw
 * MQTT.js clients sending the same posts on the same topics. They take turns in windows of BENCH_FLEET_WINDOW_MS
 * (the idle one is connected and quiet), and each window measures the host's CPU: gateways per core = K / cores
 * used, messages per second per core = posts sent / CPU seconds; the ratios are agent / raw. A third host runs
 * the raw clients with each post through a durable `Outbox` of its own (one SQLite file and fsync per gateway, as
 * every agent has): its ratio to raw is what durability alone leaves, a ceiling for the agents' ratio.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { cpuProfArgs } from './agent-devices';
import { RAW_CLIENT } from './gateway-host';
import { sleep } from './fleet/fleet';
import { startWorld, type World } from './fleet/world';
import { withTimeout } from './stats';

export const FLEET_K = Number(process.env.BENCH_FLEET_GATEWAYS ?? 10);
export const FLEET_M = Number(process.env.BENCH_FLEET_SUBS ?? 20);
export const FLEET_P = Number(process.env.BENCH_FLEET_POSTS ?? 2);
const WINDOW_MS = Number(process.env.BENCH_FLEET_WINDOW_MS ?? 2000);
const WINDOWS = Number(process.env.BENCH_FLEET_WINDOWS ?? 2);

interface Figures {
  gatewaysPerCore: number;
  msgsPerCore: number;
  msgsPerSecond: number;
}

export type FleetRound = Record<Role, Figures>;

type Role = 'agent' | 'raw' | 'outbox';
const ROLES: readonly Role[] = ['agent', 'raw', 'outbox'];

function ask<T>(proc: ChildProcess, msg: string, match: (m: unknown) => m is T, ms: number): Promise<T> {
  return withTimeout(
    new Promise<T>((resolve) => {
      const on = (m: unknown) => {
        if (!match(m)) return;
        proc.off('message', on);
        resolve(m);
      };
      proc.on('message', on);
      if (msg) proc.send(msg);
    }),
    ms,
    `the ${msg || 'ready'} answer`,
  );
}

const isReady = (m: unknown): m is 'ready' => m === 'ready';
const isCpu = (m: unknown): m is { cpuUs: number; seconds: number; sent: number } => typeof m === 'object' && m !== null && 'cpuUs' in m;

export class FleetBench {
  private constructor(
    private readonly world: World,
    private readonly hosts: Map<Role, ChildProcess>,
  ) {}

  static async start(): Promise<FleetBench> {
    const world = await startWorld({ gateways: FLEET_K, subDevices: FLEET_M, tsls: [], broker: 'embedded', serviceClients: [RAW_CLIENT] });
    const hosts = new Map<Role, ChildProcess>();
    try {
      for (const role of ROLES) {
        const proc = fork(join(__dirname, 'gateway-host.js'), [role, world.mqttUrl, String(FLEET_K), String(FLEET_M), String(FLEET_P)], {
          stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
          execArgv: process.env.BENCH_CPU_PROF ? [...cpuProfArgs(process.env.BENCH_CPU_PROF), `--cpu-prof-name=host-${role}.cpuprofile`] : [],
        });
        hosts.set(role, proc);
        await ask(proc, '', isReady, 180_000);
      }
    } catch (err) {
      for (const p of hosts.values()) p.kill('SIGKILL');
      await world.stop();
      throw err;
    }
    const bench = new FleetBench(world, hosts);
    await bench.warmUp();
    return bench;
  }

  /**
   * Uncounted windows until each host sends 90 % of what is asked (at most 10): a sub-device's router is built on
   * its first message (agent/gateway/traffic/routers.ts), and building one costs far more than a post.
   */
  private async warmUp(): Promise<void> {
    const asked = FLEET_K * FLEET_M * FLEET_P;
    for (const role of ROLES) {
      for (let i = 0; i < 10; i++) {
        const w = await this.window(role);
        if (w.sent / w.seconds >= 0.9 * asked) break;
      }
    }
  }

  private async window(role: Role): Promise<{ cpuUs: number; seconds: number; sent: number }> {
    const proc = this.hosts.get(role) as ChildProcess;
    proc.send('cpu-start');
    await sleep(WINDOW_MS);
    const r = await ask(proc, 'cpu-stop', isCpu, 10_000);
    // Let the posts of the window settle before the other host starts.
    await sleep(300);
    return r;
  }

  async round(r: number): Promise<FleetRound> {
    const zero = () => ({ cpuUs: 0, seconds: 0, sent: 0 });
    const sum = { agent: zero(), raw: zero(), outbox: zero() };
    const order = r % 2 === 0 ? ROLES : [...ROLES].reverse();
    for (let i = 0; i < WINDOWS; i++) {
      for (const role of order) {
        const w = await this.window(role);
        sum[role].cpuUs += w.cpuUs;
        sum[role].seconds += w.seconds;
        sum[role].sent += w.sent;
      }
    }
    const figures = (s: { cpuUs: number; seconds: number; sent: number }): Figures => {
      const cores = s.cpuUs / 1e6 / s.seconds;
      return { gatewaysPerCore: FLEET_K / cores, msgsPerCore: s.sent / (s.cpuUs / 1e6), msgsPerSecond: s.sent / s.seconds };
    };
    return { agent: figures(sum.agent), raw: figures(sum.raw), outbox: figures(sum.outbox) };
  }

  async stop(): Promise<void> {
    await Promise.all(
      [...this.hosts.values()].map(async (p) => {
        const exited = new Promise((r) => p.once('exit', r));
        p.send('stop');
        await withTimeout(exited, 20_000, 'a host stopping').catch(() => p.kill('SIGKILL'));
      }),
    );
    await this.world.stop();
  }
}
