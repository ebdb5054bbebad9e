/**
 * The one place integration tests start real MQTT brokers: mosquitto (MQTT 5, a child process with a
 * generated config) and aedes (MQTT 3.1.1, in-process). Every broker binds 127.0.0.1 on a free port and is
 * stopped by the caller (use `afterAll(() => broker.stop())`).
 */
import { spawn, ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { createServer, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBroker } from 'aedes';
import { freePort, mosquittoBaseConfig, mosquittoPath, waitForPort } from '../../bench/brokers';

export { freePort, mosquittoPath, waitForPort };

/** Polls `check` until it returns a truthy value; fails after `timeoutMs`. */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 5000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface MosquittoOptions {
  /** TLS listener: PEM file paths. */
  tls?: { certFile: string; keyFile: string; caFile?: string };
  /** Extra lines for mosquitto.conf. */
  extraConfig?: string[];
  port?: number;
}

export interface RunningBroker {
  url: string;
  port: number;
  host: string;
  /** Stops the broker (and, for mosquitto, waits for the process to exit). */
  stop(): Promise<void>;
  /** Stops then starts it again on the same port; in-flight sessions are lost (no persistence). */
  restart(downMs?: number): Promise<void>;
}

/** Starts mosquitto 2 (MQTT 3.1.1 and 5) on a free loopback port. */
export async function startMosquitto(opts: MosquittoOptions = {}): Promise<RunningBroker & { process(): ChildProcess }> {
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'mosq-'));
  const conf = join(dir, 'mosquitto.conf');
  const lines = mosquittoBaseConfig(port);
  if (opts.tls) {
    lines.push(`certfile ${opts.tls.certFile}`, `keyfile ${opts.tls.keyFile}`);
    if (opts.tls.caFile) lines.push(`cafile ${opts.tls.caFile}`);
  }
  lines.push(...(opts.extraConfig ?? []));
  writeFileSync(conf, lines.join('\n') + '\n');
  let child: ChildProcess;
  let stderr = '';
  const launch = async () => {
    child = spawn(mosquittoPath(), ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`mosquitto exited with ${code}: ${stderr.trim()}`))),
    );
    exited.catch(() => undefined);
    await Promise.race([waitForPort(port, 5000), exited]);
  };
  const stop = async () => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    await done;
    clearTimeout(t);
  };
  await launch();
  const scheme = opts.tls ? 'mqtts' : 'mqtt';
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    host: '127.0.0.1',
    process: () => child,
    stop: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    restart: async (downMs = 0) => {
      await stop();
      if (downMs) await new Promise((r) => setTimeout(r, downMs));
      await launch();
    },
  };
}

/** Starts an in-process aedes broker (MQTT 3.1.1) on a free loopback port. */
export async function startAedes(opts: { port?: number; setup?: (aedes: import('aedes').default) => void } = {}): Promise<RunningBroker & { aedes(): import('aedes').default }> {
  const port = opts.port ?? (await freePort());
  let broker: import('aedes').default;
  let server: Server;
  const launch = async () => {
    broker = createBroker();
    opts.setup?.(broker);
    server = createServer(broker.handle);
    server.on('connection', (s) => s.setNoDelay(true));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
  };
  const stop = async () => {
    if (!server) return;
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  };
  await launch();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    host: '127.0.0.1',
    aedes: () => broker,
    stop,
    restart: async (downMs = 0) => {
      await stop();
      if (downMs) await new Promise((r) => setTimeout(r, downMs));
      await launch();
    },
  };
}
