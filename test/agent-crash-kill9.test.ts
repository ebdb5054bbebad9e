/**
 * kill -9 of the whole agent: the CLI (`alink-agent run`) as a child process with a plugin that posts an increasing
 * counter (test/fixtures/post-loop-plugin.ts), SIGKILLed at random points (while loading, before the first
 * connection, while sending), then started again on the same dataDir, round after round. At the end every counter
 * the child reported durable (custom topic, QoS 1) or answered (property post) has reached the simulator; the
 * duplicates QoS 1 allows are counted, not forbidden.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { CloudSimulator } from '../simulator/cloud-simulator';
import { waitFor } from './helpers/brokers';
import { prng } from './helpers/prng';
import { spawnAgentChild } from './helpers/agent-child';
import { DEVICE } from './agent-support';
import { startSimulator, TSL_PATH } from './agent-e2e-support';

const REPO = resolve(__dirname, '..');
const PLUGIN = join(REPO, 'test', 'fixtures', 'post-loop-plugin.ts');
const ROUNDS = 20;

interface Run {
  durable: string[];
  replied: string[];
  started: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

interface Child {
  run: Run;
  kill(signal: NodeJS.Signals): void;
  exited: Promise<Run>;
}

function spawnAgent(configFile: string, onLine: (line: string) => void = () => undefined): Child {
  const run: Run = { durable: [], replied: [], started: false, code: null, signal: null, stderr: '' };
  // Only whole lines count: a line cut short by the kill is not a complete report.
  const child = spawnAgentChild(configFile, {
    onLine: (line) => {
      const m = /^([SDR]) ([0-9.]+)$/.exec(line);
      if (m?.[1] === 'D') run.durable.push(m[2] as string);
      else if (m?.[1] === 'R') run.replied.push(m[2] as string);
      else if (m?.[1] === 'S') run.started = true;
      onLine(line);
    },
  });
  const exited = child.exited.then((exit) => Object.assign(run, exit));
  return { run, exited, kill: (signal) => child.kill(signal) };
}

describe('the agent under kill -9', () => {
  let sim: CloudSimulator;
  let dir: string;
  const posts: string[] = [];
  const customs: string[] = [];

  beforeAll(async () => {
    ({ sim } = await startSimulator());
    sim.on('propertyPost', (p) => {
      const v = (p.params as Record<string, unknown> | undefined)?.FirmwareVersion;
      const id = typeof v === 'object' && v !== null ? (v as { value?: unknown }).value : v;
      if (typeof id === 'string') posts.push(id);
    });
    sim.on('deviceMessage', (m) => {
      if (m.topic.endsWith('/user/crash')) customs.push(m.payload.toString());
    });
    dir = mkdtempSync(join(tmpdir(), 'agent-kill9-'));
  });

  afterAll(async () => {
    await sim?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const writeConfig = (prefix: string, count?: number): string => {
    const file = join(dir, 'agent.json');
    writeFileSync(
      file,
      JSON.stringify({
        device: { productKey: DEVICE.productKey, deviceName: DEVICE.deviceName, secret: DEVICE.secret },
        broker: { url: sim.mqttUrl, reconnect: { initialMs: 100, maxMs: 500, stableMs: 1000 }, connectTimeoutMs: 3000 },
        thingModel: { path: TSL_PATH },
        dataDir: join(dir, 'data'),
        log: { level: 'error' },
        shutdown: { disconnectTimeoutMs: 3000 },
        handlers: [{ module: PLUGIN, options: { prefix, intervalMs: 4, ...(count !== undefined ? { count } : {}) } }],
      }),
    );
    return file;
  };

  test(`${ROUNDS} rounds of SIGKILL at random points: every durable or answered counter reaches the cloud`, async () => {
    const seed = Number(process.env.AGENT_KILL9_SEED ?? Date.now() % 1_000_000);
    const rand = prng(seed);
    const durable = new Set<string>();
    const replied = new Set<string>();
    const killedBeforeStart: number[] = [];

    for (let round = 1; round <= ROUNDS; round++) {
      const file = writeConfig(String(round));
      // One round in four is killed while the process is still loading (before its plugin posts anything);
      // the others 0..500 ms after the posts began (before the connection, during the replay, while sending).
      const early = rand() < 0.25;
      const delay = Math.floor(rand() * (early ? 700 : 500));
      let killTimer: NodeJS.Timeout | undefined;
      const child = spawnAgent(file, (line) => {
        if (!early && line.startsWith('S ')) killTimer = setTimeout(() => child.kill('SIGKILL'), delay);
      });
      if (early) killTimer = setTimeout(() => child.kill('SIGKILL'), delay);
      const guard = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const run = await child.exited;
      clearTimeout(killTimer);
      clearTimeout(guard);
      expect({ round, signal: run.signal, stderr: run.stderr }).toEqual({ round, signal: 'SIGKILL', stderr: '' });
      if (!run.started) killedBeforeStart.push(round);
      for (const id of run.durable) durable.add(id);
      for (const id of run.replied) replied.add(id);
    }

    // The drain run: no new posts; whatever the outbox still holds goes out, then a clean stop.
    const drain = spawnAgent(writeConfig('999', 0));
    try {
      // Its signal handlers are in place once the plugins start; a SIGTERM before that would kill it outright.
      await waitFor(() => drain.run.started, 10_000, 'the drain run to start');
      await waitFor(
        () => {
          const p = new Set(posts);
          const c = new Set(customs);
          return [...durable].every((id) => c.has(id)) && [...replied].every((id) => p.has(id));
        },
        30_000,
        'every durable and answered counter at the simulator',
      );
    } finally {
      drain.kill('SIGTERM');
    }
    const drained = await drain.exited;
    expect({ code: drained.code, stderr: drained.stderr }).toEqual({ code: 0, stderr: '' });

    const distinctCustoms = new Set(customs);
    const distinctPosts = new Set(posts);
    const report = {
      seed,
      rounds: ROUNDS,
      killedBeforeStart: killedBeforeStart.length,
      durable: durable.size,
      durableDelivered: [...durable].filter((id) => distinctCustoms.has(id)).length,
      customReceived: customs.length,
      customDuplicates: customs.length - distinctCustoms.size,
      customDeliveredUnreported: [...distinctCustoms].filter((id) => !durable.has(id)).length,
      replied: replied.size,
      repliedDelivered: [...replied].filter((id) => distinctPosts.has(id)).length,
      postsReceived: posts.length,
      postDuplicates: posts.length - distinctPosts.size,
    };
    // One line for the record (the report quotes it); the assertions below are what the test checks.
    process.stdout.write(`kill -9 report: ${JSON.stringify(report)}\n`);
    expect(report.durableDelivered).toBe(report.durable);
    expect(report.repliedDelivered).toBe(report.replied);
    // The rounds did exercise the interesting paths: messages were made durable and answered across restarts.
    expect(report.durable).toBeGreaterThan(ROUNDS);
    expect(report.replied).toBeGreaterThan(0);
  }, 120_000);
});
