/**
 * The gateways of bench:gateway: the agent CLI in a child process (durable outbox and inbox, as shipped, started the
 * way the systemd unit starts it) on the fleet's gateway configuration (bench/fleet/gateway-config.ts), with the
 * fleet's driver plugin owning every sub-device product when there are sub-devices.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuProfArgs, UNIT_NODE_OPTIONS } from './agent-devices';
import { gatewayConfig } from './fleet/gateway-config';
import type { FleetGateway, World } from './fleet/world';

export interface CliGateway {
  proc: ChildProcess;
  exited: Promise<void>;
  /** SIGTERM, SIGKILL after 10 s; removes the data folder. */
  stop(): Promise<void>;
}

/** Starts the CLI for `gw` with `subCount` of its sub-devices (0: a gateway with none, the RSS baseline). */
export function spawnCliGateway(world: World, gw: FleetGateway, subCount: number, name = 'gateway'): CliGateway {
  const dir = mkdtempSync(join(tmpdir(), 'bench-gw-'));
  const file = join(dir, 'agent.json');
  const base = gatewayConfig(world, { ...gw, subs: gw.subs.slice(0, subCount) }, { dataDir: join(dir, 'data'), logLevel: process.env.BENCH_LOG ?? 'warn', reconnectMaxMs: 2000 });
  const driver = { module: join(__dirname, 'fleet', 'driver.js'), options: { products: world.products.map((p) => p.productKey), setProperties: world.products.map((p) => p.setProperty) } };
  writeFileSync(file, JSON.stringify({ ...base, handlers: subCount > 0 ? [driver] : [] }));
  const prof = process.env.BENCH_CPU_PROF ? [...cpuProfArgs(process.env.BENCH_CPU_PROF), `--cpu-prof-name=${name}.cpuprofile`] : [];
  const proc = spawn(process.execPath, [...prof, join(__dirname, '..', 'agent', 'cli', 'main.js'), 'run', '--config', file], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, NODE_OPTIONS: process.env.BENCH_CLI_NODE_OPTIONS ?? UNIT_NODE_OPTIONS, NOTIFY_SOCKET: '', WATCHDOG_USEC: '' },
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return {
    proc,
    exited,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        proc.kill('SIGTERM');
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
