/**
 * The devices of bench:agent (bench/agent.ts), each run in a child process of its own: the echo floor, the
 * official device SDK, and this agent with and without its durable stores.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import mqtt from 'mqtt';
import pino from 'pino';

export const PK = 'a1GwDemo01';
const SECRET = '3f6c0a9d27b84e1c95d2a7e41b08c6f3';
// Run from source (bench/) or from the build (dist/bench/): the TSL lives in the source tree.
const ROOT = basename(resolve(__dirname, '..')) === 'dist' ? resolve(__dirname, '..', '..') : resolve(__dirname, '..');
const TSL = join(ROOT, 'simulator', 'tsl', 'example-gateway.json');

export type Role = 'echo' | 'sdk' | 'agent' | 'durable';

export const sys = (dn: string) => `/sys/${PK}/${dn}`;
const CALIBRATE_OUT = { Success: 1, Offset: 0.5, CalibratedAt: '1700000000000', Message: 'ok' };

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
    else if (topic.startsWith(rrpcPrefix)) c.publish(topic.replace('/request/', '/response/'), JSON.stringify({ id: req.id, code: 200, data: CALIBRATE_OUT }), { qos: 0 });
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
    publish(topic: string, msg: string, opts?: { qos: 0 | 1 }): void;
    end(force?: boolean, cb?: () => void): void;
  }
  const device = iot.device({ productKey: PK, deviceName: dn, deviceSecret: SECRET, brokerUrl: url });
  const replyTopic = `${sys(dn)}/thing/service/property/set_reply`;
  device.onProps((res) => device.publish(replyTopic, JSON.stringify({ id: res.id, code: 200, data: {} }), { qos: 1 }));
  device.on('error', () => undefined);
  await new Promise<void>((r) => device.on('connect', () => r()));
  return () => new Promise<void>((r) => device.end(false, () => r()));
}

/**
 * This agent, configured as a gateway would be, with a Calibrate handler for the RRPC part; `durable` keeps the
 * default stores (outbox and inbox in `{dataDir}/agent.db`), otherwise nothing goes to disk, as with echo and sdk.
 */
async function runAgent(url: string, dn: string, durable: boolean): Promise<() => Promise<void>> {
  const { Agent } = await import('../agent/agent');
  const { createAgentLogger } = await import('../agent/config/logger');
  const { definePlugin } = await import('../handlers/api');
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-agent-'));
  const agent = await Agent.create(
    {
      device: { productKey: PK, deviceName: dn, secret: SECRET },
      broker: { url },
      thingModel: { path: TSL },
      dataDir,
      log: { level: (process.env.BENCH_LOG ?? 'info') as 'info' },
    },
    {
      logger: createAgentLogger({ level: (process.env.BENCH_LOG ?? 'info') as 'info' }, pino.destination(2)),
      plugins: [{ module: 'bench', plugin: definePlugin({ name: 'bench', setup: () => ({ services: { Calibrate: () => CALIBRATE_OUT } }) }) }],
      ...(durable ? {} : { stores: () => ({}) }),
    },
  );
  await agent.start();
  return async () => {
    await agent.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
}

/** Runs in the device's child process: starts `role`, answers the parent's CPU and stop messages. */
export async function child(role: Role, url: string, dn: string): Promise<void> {
  const stop = role === 'echo' ? await runEcho(url, dn) : role === 'sdk' ? await runSdk(url, dn) : await runAgent(url, dn, role === 'durable');
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
