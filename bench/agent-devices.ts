/**
 * The devices of bench:agent (bench/agent.ts), each run in a child process of its own: the echo floor (a plain
 * MQTT.js client, whose RSS is also the footprint baseline), the official device SDK, this agent without stores
 * (in-process API), and the default agent: the CLI itself (`dist/agent/cli/main.js run`) on a config file with
 * only the required keys, so durable outbox, inbox and the built-in property store, as shipped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import mqtt from 'mqtt';
import { calibrate } from './bench-plugin';

export const PK = 'a1GwDemo01';
const SECRET = '3f6c0a9d27b84e1c95d2a7e41b08c6f3';
// Run from source (bench/) or from the build (dist/bench/): the TSL lives in the source tree.
const ROOT = basename(resolve(__dirname, '..')) === 'dist' ? resolve(__dirname, '..', '..') : resolve(__dirname, '..');
const TSL = join(ROOT, 'simulator', 'tsl', 'example-gateway.json');

/** The node options of the shipped systemd unit. */
export const UNIT_NODE_OPTIONS = '--max-semi-space-size=2';

/** Node's flags for a V8 CPU profile written to `dir`, sampled every BENCH_CPU_PROF_INTERVAL µs when set. */
export function cpuProfArgs(dir: string): string[] {
  const interval = process.env.BENCH_CPU_PROF_INTERVAL;
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`, ...(interval ? [`--cpu-prof-interval=${interval}`] : [])];
}

export type Role = 'echo' | 'sdk' | 'agent' | 'durable';

export const sys = (dn: string) => `/sys/${PK}/${dn}`;

/** The echo device: parse, reply. The same two topics the agent answers, nothing else. */
async function runEcho(url: string, dn: string): Promise<() => Promise<void>> {
  const c = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: `${PK}.${dn}`, reconnectPeriod: 0 });
  (c.stream as unknown as { setNoDelay?(b: boolean): void }).setNoDelay?.(true);
  const setTopic = `${sys(dn)}/thing/service/property/set`;
  const replyTopic = `${setTopic}_reply`;
  const rrpcPrefix = `${sys(dn)}/rrpc/request/`;
  c.on('message', (topic, payload) => {
    const req = JSON.parse(payload.toString()) as { id: string };
    if (topic === setTopic) c.publish(replyTopic, JSON.stringify({ id: req.id, code: 200, data: {} }), { qos: 1 });
    else if (topic.startsWith(rrpcPrefix)) void calibrate().then((out) => c.publish(topic.replace('/request/', '/response/'), JSON.stringify({ id: req.id, code: 200, data: out }), { qos: 0 }));
  });
  await c.subscribeAsync({ [setTopic]: { qos: 1 }, [`${rrpcPrefix}+`]: { qos: 0 } });
  return async () => void (await c.endAsync());
}

/** The official device SDK, answering property sets as its README has the application do. */
async function runSdk(url: string, dn: string): Promise<() => Promise<void>> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const iot = require('alibabacloud-iot-device-sdk') as { device(c: Record<string, unknown>): SdkDevice };
  interface SdkDevice {
    on(e: string, cb: (...a: unknown[]) => void): void;
    onProps(cb: (res: { id: string }) => void): void;
    onService(name: string, cb: (res: { id: string }, reply: (r: Record<string, unknown>, type?: 'sync' | 'async') => void) => void): void;
    publish(topic: string, msg: string, opts?: { qos: 0 | 1 }): void;
    end(force?: boolean, cb?: () => void): void;
  }
  const device = iot.device({ productKey: PK, deviceName: dn, deviceSecret: SECRET, brokerUrl: url });
  const replyTopic = `${sys(dn)}/thing/service/property/set_reply`;
  device.onProps((res) => device.publish(replyTopic, JSON.stringify({ id: res.id, code: 200, data: {} }), { qos: 1 }));
  // The SDK's own RRPC path (onService + reply 'sync'), with the same awaiting handler as the others.
  device.onService('Calibrate', (res, reply) => void calibrate().then((out) => reply({ id: res.id, code: 200, data: out }, 'sync')));
  device.on('error', () => undefined);
  await new Promise<void>((r) => device.on('connect', () => r()));
  return () => new Promise<void>((r) => device.end(false, () => r()));
}

/**
 * This agent in-process without its durable stores (`stores: () => ({})`: no outbox, no inbox), with the built-in
 * property store the plugin host always adds and the Calibrate handler for the RRPC part.
 */
async function runAgent(url: string, dn: string): Promise<() => Promise<void>> {
  const { Agent } = await import('../agent/agent');
  const { createAgentLogger } = await import('../agent/config/logger');
  const { default: benchPlugin } = await import('./bench-plugin');
  const { default: pino } = await import('pino');
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-agent-'));
  const agent = await Agent.create(
    {
      device: { productKey: PK, deviceName: dn, secret: SECRET },
      broker: { url },
      thingModel: { path: TSL },
      dataDir,
      log: { level: (process.env.BENCH_LOG ?? 'warn') as 'info' },
    },
    {
      logger: createAgentLogger({ level: (process.env.BENCH_LOG ?? 'warn') as 'info' }, pino.destination(2)),
      plugins: [{ module: 'bench', plugin: benchPlugin }],
      stores: () => ({}),
    },
  );
  await agent.start();
  return async () => {
    await agent.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
}

/**
 * The default agent: the CLI on a config file with the required keys and the bench's Calibrate plugin, a fresh data
 * folder, its log on stderr at warn (info logs nothing per message; warn keeps the bench's output readable).
 */
export function spawnCli(url: string, dn: string): { proc: ChildProcess; cleanup: () => void } {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-cli-'));
  const config = join(dataDir, 'agent.json');
  const plugin = join(__dirname, 'bench-plugin.js');
  writeFileSync(
    config,
    JSON.stringify({
      device: { productKey: PK, deviceName: dn, secret: SECRET },
      broker: { url },
      thingModel: { path: TSL },
      dataDir,
      log: { level: process.env.BENCH_LOG ?? 'warn' },
      handlers: [{ module: plugin }],
    }),
  );
  const cli = join(__dirname, '..', 'agent', 'cli', 'main.js');
  const prof = process.env.BENCH_CPU_PROF ? [...cpuProfArgs(process.env.BENCH_CPU_PROF), '--cpu-prof-name=durable.cpuprofile'] : [];
  // As the shipped unit runs it (deploy/systemd/alink-agent.service, Environment=NODE_OPTIONS=...); override with
  // BENCH_CLI_NODE_OPTIONS ('' for V8's defaults).
  const nodeOptions = process.env.BENCH_CLI_NODE_OPTIONS ?? UNIT_NODE_OPTIONS;
  const proc = spawn(process.execPath, [...prof, cli, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, NODE_OPTIONS: nodeOptions } });
  return { proc, cleanup: () => rmSync(dataDir, { recursive: true, force: true }) };
}

/** Runs in the device's child process: starts `role`, answers the parent's CPU and stop messages. */
export async function child(role: Role, url: string, dn: string): Promise<void> {
  const stop = role === 'echo' ? await runEcho(url, dn) : role === 'sdk' ? await runSdk(url, dn) : await runAgent(url, dn);
  let cpu = process.cpuUsage();
  process.on('message', (m) => {
    if (m === 'stop') void stop().then(() => process.exit(0));
    else if (m === 'cpu-start') cpu = process.cpuUsage();
    else if (m === 'cpu-stop') {
      const d = process.cpuUsage(cpu);
      process.send?.({ cpuUs: d.user + d.system });
    }
  });
  process.send?.('ready');
}
