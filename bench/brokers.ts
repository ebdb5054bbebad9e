/**
 * Brokers for the benchmarks (which run from dist/ and cannot import test/; test/helpers/brokers.ts builds on
 * these primitives): mosquitto on a free loopback port,
 * configured like the tests' (set_tcp_nodelay, no persistence, a 1000-message in-flight window), stopped by the
 * caller.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Asks the kernel for a free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** Resolves once something accepts TCP connections on the port; rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = netConnect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Where mosquitto is installed; throws a one-line hint when it is not. */
export function mosquittoPath(): string {
  const known = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p));
  if (known) return known;
  try {
    return execFileSync('sh', ['-c', 'command -v mosquitto']).toString().trim();
  } catch {
    throw new Error('mosquitto is not installed (apt-get install mosquitto)');
  }
}

/** The mosquitto.conf lines every benchmark and test broker starts from. */
export function mosquittoBaseConfig(port: number): string[] {
  return [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    // Without it every QoS 1 step waits on Nagle's algorithm (~40 ms).
    'set_tcp_nodelay true',
    'persistence false',
    'log_dest none',
    'max_inflight_messages 1000',
    'max_queued_messages 100000',
  ];
}

export interface BenchBroker {
  url: string;
  port: number;
  /** The broker's pid, for reading its memory. */
  pid: number;
  /** Stops the broker, waits for its exit and removes its config folder. */
  stop(): Promise<void>;
}

/** Starts mosquitto 2 on a free loopback port. */
export async function startMosquitto(extraConfig: string[] = []): Promise<BenchBroker> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bench-mosq-'));
  const conf = join(dir, 'mosquitto.conf');
  const lines = [...mosquittoBaseConfig(port), ...extraConfig];
  writeFileSync(conf, lines.join('\n') + '\n');
  const proc = spawn(mosquittoPath(), ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  try {
    await Promise.race([waitForPort(port), exited.then(() => Promise.reject(new Error(`mosquitto exited: ${stderr.trim()}`)))]);
  } catch (err) {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    pid: proc.pid ?? -1,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        const killer = setTimeout(() => proc.kill('SIGKILL'), 3000);
        proc.kill('SIGTERM');
        await exited;
        clearTimeout(killer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
