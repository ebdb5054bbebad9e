/**
 * The agent's default stores, end to end: without a `stores` option the agent keeps its outbox and inbox in
 * `{dataDir}/agent.db`. A property set the cloud delivers again (same Alink id) is answered from the inbox without
 * applying it twice, also after a restart; 1,000 property posts made while the broker is down all arrive once it
 * is back, in order, none twice.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { definePlugin } from '../handlers/api';
import type { PluginConfig } from '../agent/plugins/loader';
import type { CloudSimulator } from '../simulator/cloud-simulator';
import { openAgentDb } from '../agent/storage';
import { startMosquitto, waitFor, type RunningBroker } from './helpers/brokers';
import { ID, makeAgent, startSimulator, type TestAgent } from './agent-e2e-support';

/** Claims DeviceAlias and counts how often a value is applied. */
function aliasPlugin(applied: unknown[]): PluginConfig {
  return {
    module: 'alias-counter',
    plugin: definePlugin({
      name: 'alias',
      setup: () => ({ properties: { ids: ['DeviceAlias'], apply: (values) => void applied.push(values.DeviceAlias) } }),
    }),
  };
}

describe('a redelivered property set (inbox in agent.db)', () => {
  let broker: RunningBroker;
  let cloud: MqttClient;
  const dataDir = mkdtempSync(join(tmpdir(), 'agent-ops-inbox-'));
  const replies: string[] = [];
  const agents: TestAgent[] = [];
  const setTopic = `/sys/${ID.productKey}/${ID.deviceName}/thing/service/property/set`;

  beforeAll(async () => {
    broker = await startMosquitto();
    cloud = await connectAsync(broker.url, { clientId: 'cloud-inbox-test', reconnectPeriod: 0 });
    cloud.on('message', (_t, payload) => replies.push(payload.toString()));
    await cloud.subscribeAsync(`${setTopic}_reply`, { qos: 1 });
  });

  afterAll(async () => {
    for (const a of agents) await a.cleanup();
    await cloud?.endAsync(true);
    await broker?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const startAgent = async (applied: unknown[]) => {
    const t = await makeAgent(broker.url, { dataDir }, { plugins: [aliasPlugin(applied)] });
    agents.push(t);
    await t.agent.start();
    return t;
  };

  const sendSet = async (id: string, alias: string): Promise<string> => {
    const before = replies.length;
    await cloud.publishAsync(setTopic, JSON.stringify({ id, version: '1.0', params: { DeviceAlias: alias }, method: 'thing.service.property.set' }), { qos: 1 });
    await waitFor(() => replies.length > before, 5000, `the set_reply to ${id}`);
    return replies[before] as string;
  };

  it('is answered the same way without applying it again, also after a restart on the same dataDir', async () => {
    const first: unknown[] = [];
    const a = await startAgent(first);
    expect(existsSync(join(dataDir, 'agent.db'))).toBe(true);

    const reply = await sendSet('4711', 'north wing');
    expect(JSON.parse(reply)).toMatchObject({ id: '4711', code: 200 });
    expect(await sendSet('4711', 'north wing')).toBe(reply);
    expect(first).toEqual(['north wing']);
    await a.agent.stop();

    const second: unknown[] = [];
    await startAgent(second);
    expect(await sendSet('4711', 'north wing')).toBe(reply);
    expect(second).toEqual([]);
    // A new id is a new request.
    expect(JSON.parse(await sendSet('4712', 'south wing'))).toMatchObject({ id: '4712', code: 200 });
    expect(second).toEqual(['south wing']);
  }, 30_000);
});

describe('1,000 property posts during a broker outage', () => {
  let sim: CloudSimulator;
  let t: TestAgent;
  const received: string[] = [];

  beforeAll(async () => {
    let mqttUrl: string;
    ({ sim, mqttUrl } = await startSimulator());
    sim.on('propertyPost', (p) => {
      const v = (p.params as Record<string, unknown> | undefined)?.FirmwareVersion;
      const id = typeof v === 'object' && v !== null ? (v as { value?: unknown }).value : v;
      if (typeof id === 'string') received.push(id);
    });
    t = await makeAgent(mqttUrl, { upstream: { replyTimeoutMs: 60_000 } });
    await t.agent.start();
  });

  afterAll(async () => {
    await t?.cleanup();
    await sim?.stop();
  });

  it('all arrive once the broker is back, in order, none twice, each answered', async () => {
    await sim.stop();
    await waitFor(() => t.agent.state === 'reconnecting', 5000, 'the agent to notice the outage');
    const N = 1000;
    // What the agent sent at connect (the channels' own QoS 1 requests) may still be waiting for its PUBACK.
    const before = t.agent.outboxPending ?? 0;
    const posts = Array.from({ length: N }, (_, i) => t.agent.router.upstream.postProperties({ FirmwareVersion: `v${i}` }));
    await waitFor(() => t.agent.outboxPending === before + N, 10_000, `${N} posts durable in the outbox`);
    expect(received).toEqual([]);

    await sim.start();
    const answers = await Promise.all(posts);
    expect(answers.every((a) => a.code === 200)).toBe(true);
    await waitFor(() => received.length >= N, 10_000, `${N} posts at the simulator`);
    expect(received).toEqual(Array.from({ length: N }, (_, i) => `v${i}`));
    await waitFor(() => t.agent.outboxPending === 0, 5000, 'an empty outbox');
  }, 60_000);
});

describe('one agent per dataDir (agent.db.lock)', () => {
  const dirs: string[] = [];
  const freshDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'agent-ops-lock-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** A child process that opens agent.db in `dataDir` and holds it until killed. */
  const holder = async (dataDir: string) => {
    const code = `require('./agent/storage').openAgentDb({ file: ${JSON.stringify(join(dataDir, 'agent.db'))} }); console.log('held'); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['-r', require.resolve('./helpers/ts-register.js'), '-e', code], { cwd: join(__dirname, '..'), stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('held') || child.exitCode !== null, 20_000, 'the child to hold the lock');
    expect(out).toContain('held');
    return { pid: child.pid as number, kill9: async () => (child.kill('SIGKILL'), await exited) };
  };

  it('a second agent on the same dataDir fails to start, naming the folder and the pid; the first one keeps it', async () => {
    const dataDir = freshDir();
    const a = await makeAgent('mqtt://127.0.0.1:1', { dataDir });
    try {
      const lock = readFileSync(join(dataDir, 'agent.db.lock'), 'utf8');
      expect(lock.split(' ')[0]).toBe(String(process.pid));
      const err = await makeAgent('mqtt://127.0.0.1:1', { dataDir }).then(
        () => undefined,
        (e: Error & { code?: string }) => e,
      );
      expect(err?.code).toBe('STORAGE_LOCKED');
      expect(err?.message).toBe(`data directory ${dataDir} is in use by this process (pid ${process.pid}): ${join(dataDir, 'agent.db.lock')} is held; stop that agent or use another dataDir`);
      expect(err?.message).not.toContain('\n');
      // The failed open left the holder's lock alone.
      expect(readFileSync(join(dataDir, 'agent.db.lock'), 'utf8')).toBe(lock);
    } finally {
      await a.cleanup();
    }
    // Released on stop: the next agent opens it.
    expect(existsSync(join(dataDir, 'agent.db.lock'))).toBe(false);
    openAgentDb({ file: join(dataDir, 'agent.db') }).close();
  }, 30_000);

  it('another live process holding agent.db is named by its pid; once it is kill -9ed its stale lock is taken over', async () => {
    const dataDir = freshDir();
    const file = join(dataDir, 'agent.db');
    const child = await holder(dataDir);
    try {
      expect(() => openAgentDb({ file })).toThrow(`data directory ${dataDir} is in use by another process (pid ${child.pid})`);
    } finally {
      await child.kill9();
    }
    // The SIGKILLed child left its lock behind.
    expect(readFileSync(`${file}.lock`, 'utf8').split(' ')[0]).toBe(String(child.pid));
    const db = openAgentDb({ file });
    expect(readFileSync(`${file}.lock`, 'utf8').split(' ')[0]).toBe(String(process.pid));
    db.close();
    expect(existsSync(`${file}.lock`)).toBe(false);
  }, 30_000);

  it('a lock whose pid is dead, or reused by another process since, is taken over', async () => {
    const dataDir = freshDir();
    const file = join(dataDir, 'agent.db');
    const done = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => done.once('exit', resolve));
    writeFileSync(`${file}.lock`, `${done.pid as number} 1\n`);
    const t = await makeAgent('mqtt://127.0.0.1:1', { dataDir });
    expect(t.log.text()).toContain('taking over the lock of a process that is no longer running');
    await t.cleanup();
    // A container's agent is pid 1 after every restart: the same pid with another start time is not the holder.
    writeFileSync(`${file}.lock`, `${process.pid} 1\n`);
    openAgentDb({ file }).close();
    expect(existsSync(`${file}.lock`)).toBe(false);
  }, 30_000);
});
