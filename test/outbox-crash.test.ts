/**
 * kill -9: a child process posts through the outbox and is SIGKILLed at random points (before it connects, while it
 * replays its backlog, while it sends new messages), then restarted on the same file, round after round. Every message whose publish promise resolved (the child printed it) must reach the
 * subscriber; duplicates are allowed by QoS 1 and counted.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { compileOutboxForChild } from '../agent/outbox/__fixtures__/compile';
import { startMosquitto, waitFor, type RunningBroker } from './helpers/brokers';
import { prng } from './helpers/prng';

const ROUNDS = 24;

interface ChildRun {
  durable: string[];
  lines: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function runChild(
  script: string,
  env: NodeJS.ProcessEnv,
  args: string[],
  onLine: (line: string, kill: () => void) => void,
  timeoutMs: number,
): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const run: ChildRun = { durable: [], lines: [], code: null, signal: null, stderr: '' };
    let buf = '';
    const kill = () => child.kill('SIGKILL');
    const timer = setTimeout(() => {
      kill();
      reject(new Error(`child ${args.join(' ')} did not finish within ${timeoutMs} ms; stderr: ${run.stderr}`));
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      const parts = (buf + d.toString()).split('\n');
      buf = parts.pop() ?? '';
      for (const line of parts) {
        if (line.startsWith('D ')) run.durable.push(line.slice(2));
        else run.lines.push(line);
        onLine(line, kill);
      }
    });
    child.stderr.on('data', (d: Buffer) => (run.stderr += d.toString()));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      run.code = code;
      run.signal = signal;
      // A line cut short by the kill is not a complete report; only whole lines count.
      resolve(run);
    });
  });
}

describe('outbox under kill -9', () => {
  let broker: RunningBroker;
  let sub: MqttClient;
  let dir: string;
  const received: string[] = [];
  const topic = '/a1TestPK01/dev1/user/crash';

  beforeAll(async () => {
    broker = await startMosquitto();
    sub = mqtt.connect(broker.url, { clientId: `crash-sub-${process.pid}`, reconnectPeriod: 0 });
    sub.on('message', (_t, p) => received.push(p.toString()));
    await new Promise<void>((resolve) => sub.once('connect', () => resolve()));
    await sub.subscribeAsync(topic, { qos: 1 });
    dir = mkdtempSync(join(tmpdir(), 'outbox-crash-'));
  });

  afterAll(async () => {
    await sub.endAsync();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test(`${ROUNDS} rounds of SIGKILL at random points: every durable message is delivered`, async () => {
    const build = compileOutboxForChild(join(dir, 'js'));
    const script = build.path('agent/outbox/__fixtures__/crash-publisher.ts');
    const file = join(dir, 'data', 'agent.db');
    const seed = Number(process.env.OUTBOX_CRASH_SEED ?? Date.now() % 1_000_000);
    const rand = prng(seed);
    const durable = new Set<string>();
    const pendingAtStart: number[] = [];

    for (let round = 0; round < ROUNDS; round++) {
      const killAfter = 100 + Math.floor(rand() * 200);
      // Connecting late builds a backlog first, so some kills land before the connection, some during its replay.
      const connectDelay = Math.floor(rand() * 150);
      const run = await runChild(
        script,
        build.env,
        [file, broker.url, topic, String(round), 'post', '3000', String(connectDelay)],
        (line, kill) => {
          if (line.startsWith('READY')) {
            pendingAtStart.push(Number(line.split(' ')[1]));
            setTimeout(kill, killAfter);
          }
        },
        15_000,
      );
      expect({ round, signal: run.signal, stderr: run.stderr }).toEqual({ round, signal: 'SIGKILL', stderr: '' });
      for (const id of run.durable) durable.add(id);
    }

    const drain = await runChild(script, build.env, [file, broker.url, topic, 'drain', 'drain', '0', '0'], () => undefined, 60_000);
    expect({ code: drain.code, stderr: drain.stderr, last: drain.lines.at(-1) }).toEqual({ code: 0, stderr: '', last: 'DRAINED 0' });

    await waitFor(
      () => {
        const have = new Set(received);
        return [...durable].every((id) => have.has(id));
      },
      15_000,
      'every durable message at the subscriber',
    );
    await new Promise((r) => setTimeout(r, 300));

    const distinct = new Set(received);
    const lost = [...durable].filter((id) => !distinct.has(id));
    const duplicates = received.length - distinct.size;
    const unreported = [...distinct].filter((id) => !durable.has(id)).length;
    // First arrivals follow the order of acceptance: round, then k.
    const key = (id: string) => id.split('.').map(Number) as [number, number];
    const firsts: string[] = [];
    const seen = new Set<string>();
    for (const id of received) if (!seen.has(id) && seen.add(id)) firsts.push(id);
    const outOfOrder = firsts.filter((id, i) => {
      if (i === 0) return false;
      const [r0, k0] = key(firsts[i - 1] as string);
      const [r1, k1] = key(id);
      return r1 < r0 || (r1 === r0 && k1 <= k0);
    });

    console.log(
      `kill -9 (seed ${seed}): ${ROUNDS} rounds, ${durable.size} durable (resolved), ${distinct.size} delivered distinct, ` +
        `${lost.length} lost, ${duplicates} duplicates, ${unreported} delivered without a durable report (killed before the print), ` +
        `pending at each restart: ${pendingAtStart.join(',')}`,
    );
    expect(durable.size).toBeGreaterThan(ROUNDS * 50);
    expect(lost).toEqual([]);
    // A kill can leave at most the in-flight window (1000) plus one commit's pending deletes (4096) to be resent.
    expect(duplicates).toBeLessThanOrEqual(ROUNDS * (1000 + 4096));
    expect(outOfOrder).toEqual([]);
    expect(readdirSync(join(dir, 'data')).filter((f) => f.includes('.corrupt-'))).toEqual([]);
  }, 110_000);
});
