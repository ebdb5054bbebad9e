/**
 * A fleet gateway as a real child process: the agent CLI (`alink-agent run --config FILE`) with the fleet's
 * gateway configuration and the child plugin (bench/fleet/child-plugin.ts), so that it can be killed with SIGKILL
 * mid-load and started again on the same data folder. From the build (dist/) it runs the compiled CLI; from source
 * (jest) the TypeScript one through test/helpers/ts-register.js.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildPluginOptions } from './child-plugin';
import { gatewayConfig, type GatewayConfigOptions } from './gateway-config';
import { ROOT, type FleetGateway, type World } from './world';

const FROM_SOURCE = __filename.endsWith('.ts');

export class ChildGateway {
  readonly dir = mkdtempSync(join(tmpdir(), 'fleet-child-'));
  readonly ledger = join(this.dir, 'accepted.txt');
  readonly stopFile = join(this.dir, 'stop-posting');
  private readonly dumpFile = join(this.dir, 'applied-sets.json');
  private readonly configFile = join(this.dir, 'agent.json');
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  /** The last lines of the child's stderr (its warn-level log), for the report when something fails. */
  stderr = '';

  constructor(
    readonly gw: FleetGateway,
    world: World,
    o: Omit<GatewayConfigOptions, 'dataDir'> & { postsPerSecond: number },
  ) {
    const options: ChildPluginOptions = {
      products: world.products.map((p) => p.productKey),
      setProperties: world.products.map((p) => p.setProperty),
      targets: gw.subs.map((s) => ({ device: s.id, seqProperty: s.product.seqProperty })),
      postsPerSecond: o.postsPerSecond,
      ledger: this.ledger,
      stopFile: this.stopFile,
      dumpFile: this.dumpFile,
    };
    const plugin = join(__dirname, FROM_SOURCE ? 'child-plugin.ts' : 'child-plugin.js');
    const config = { ...gatewayConfig(world, gw, { ...o, dataDir: join(this.dir, 'data') }), handlers: [{ module: plugin, options }] };
    writeFileSync(this.configFile, JSON.stringify(config, null, 2));
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  start(): void {
    rmSync(this.dumpFile, { force: true });
    const cli = FROM_SOURCE ? [join(ROOT, 'agent', 'cli', 'main.ts')] : [join(__dirname, '..', '..', 'agent', 'cli', 'main.js')];
    const pre = FROM_SOURCE ? ['-r', join(ROOT, 'test', 'helpers', 'ts-register.js')] : [];
    const proc = spawn(process.execPath, [...pre, ...cli, 'run', '--config', this.configFile], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, NOTIFY_SOCKET: '', WATCHDOG_USEC: '' },
    });
    proc.stderr?.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    this.exited = new Promise((r) => proc.once('exit', () => r()));
    this.proc = proc;
  }

  /** SIGKILL, and wait for the exit. */
  async kill(): Promise<void> {
    this.proc?.kill('SIGKILL');
    await this.exited;
  }

  /** Stops the post load in the child (it polls for the file). */
  stopPosting(): void {
    writeFileSync(this.stopFile, '');
  }

  /** SIGTERM (a clean stop), SIGKILL after `ms`. */
  async stop(ms = 10_000): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const t = setTimeout(() => p.kill('SIGKILL'), ms);
    p.kill('SIGTERM');
    await this.exited;
    clearTimeout(t);
  }

  /** Post keys the child accepted (stored durable), over every run. */
  accepted(): string[] {
    return existsSync(this.ledger) ? readFileSync(this.ledger, 'utf8').split('\n').filter((l) => l !== '') : [];
  }

  /** The set keys (child-plugin `setKey`) the current run found in its state at start. */
  appliedAtStart(): Set<string> {
    return new Set(existsSync(this.dumpFile) ? (JSON.parse(readFileSync(this.dumpFile, 'utf8')) as string[]) : []);
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
