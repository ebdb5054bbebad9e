/**
 * The `alink-agent` command: usage and exit codes in process, then real child processes for `run` (bad config,
 * SIGHUP reload, SIGTERM clean stop) against an aedes broker that checks the Alink login.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { main } from '../agent/cli/main';
import { startAedes, waitFor, RunningBroker } from './helpers/brokers';
import { alinkAuth, bufferIo, DEVICE } from './agent-support';

const REPO = resolve(__dirname, '..');
const TSL = join(REPO, 'simulator', 'tsl', 'example-gateway.json');
const HOOK = 'test/helpers/ts-register.js';

describe('alink-agent (in process)', () => {
  it('prints usage for --help and exits 0', async () => {
    const b = bufferIo();
    expect(await main(['--help'], b.io)).toBe(0);
    expect(b.out()).toContain('alink-agent run --config FILE');
    expect(b.out()).toContain('alink-agent tsl check FILE');
  });

  it('refuses an unknown command with usage and exit 2', async () => {
    const b = bufferIo();
    expect(await main(['frobnicate'], b.io)).toBe(2);
    expect(b.err()).toMatch(/^alink-agent: unknown command "frobnicate"\nUsage:/);
  });

  it('refuses run without --config, and unknown arguments, with exit 2', async () => {
    const b = bufferIo();
    expect(await main(['run'], b.io)).toBe(2);
    expect(b.err()).toContain('alink-agent run: run needs --config FILE');
    const c = bufferIo();
    expect(await main(['run', '--config', 'x.json', '--verbose'], c.io)).toBe(2);
    expect(c.err()).toContain('unknown argument "--verbose"');
  });

  it('runs the Thing Model checker for tsl check', async () => {
    const b = bufferIo();
    expect(await main(['tsl', 'check', TSL], b.io)).toBe(0);
    const bad = bufferIo();
    expect(await main(['tsl', 'check', join(REPO, 'no-such-tsl.json')], bad.io)).not.toBe(0);
  });

  it('prints one module with a namespace per product for tsl types with several TSLs', async () => {
    const b = bufferIo();
    expect(await main(['tsl', 'types', TSL, '--product', `Meter=${join(REPO, 'simulator', 'tsl', 'example-sensor.json')}`], b.io)).toBe(0);
    expect(b.out()).toContain('export namespace a1GwDemo01 {');
    expect(b.out()).toContain('export namespace Meter {');
  });
});

interface Child {
  proc: ChildProcess;
  lines: () => Record<string, unknown>[];
  stderr: () => string;
  stdout: () => string;
  exit: Promise<number | null>;
}

function runCli(args: string[]): Child {
  const proc = spawn(process.execPath, ['-r', `./${HOOK}`, 'agent/cli/main.ts', ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GW_SECRET: DEVICE.secret } });
  let out = '';
  let err = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    proc,
    exit,
    stdout: () => out,
    stderr: () => err,
    lines: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('alink-agent run (child process)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agent-cli-'));
  let broker: RunningBroker;
  const children: Child[] = [];
  beforeAll(async () => {
    broker = await startAedes({ setup: (a) => void alinkAuth(a) });
  });
  afterAll(async () => {
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const config = (level: string) => ({
    device: { productKey: DEVICE.productKey, deviceName: DEVICE.deviceName, secretEnv: 'GW_SECRET' },
    broker: { url: broker.url, reconnect: { initialMs: 200, maxMs: 2000 } },
    thingModel: { path: TSL },
    dataDir: join(dir, 'data'),
    log: { level },
  });

  it('exits 2 with one line on stderr for a bad config file', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ ...config('info'), broker: { url: broker.url, keepalive: 10 } }));
    const c = runCli(['run', '--config', file]);
    children.push(c);
    expect(await c.exit).toBe(2);
    expect(c.stderr()).toBe(`${file}: broker.keepalive: expected integer in [30, 1200], received 10\n`);
  }, 20_000);

  it('connects, reloads on SIGHUP without reconnecting, and stops cleanly on SIGTERM with exit 0', async () => {
    const file = join(dir, 'agent.json');
    writeFileSync(file, JSON.stringify(config('info')));
    const c = runCli(['run', '--config', file]);
    children.push(c);
    await waitFor(() => c.lines().some((l) => l.msg === 'connected'), 20_000, 'the agent to connect');
    expect(c.lines().some((l) => l.level === 20)).toBe(false);

    writeFileSync(file, JSON.stringify(config('debug')));
    c.proc.kill('SIGHUP');
    await waitFor(() => c.lines().some((l) => l.msg === 'configuration reloaded'), 10_000, 'the reload');
    // A bad file on SIGHUP is refused with its one line; the agent keeps running.
    writeFileSync(file, JSON.stringify({ ...config('debug'), log: { level: 'loud' } }));
    c.proc.kill('SIGHUP');
    await waitFor(() => c.lines().some((l) => l.msg === 'reload refused; the running configuration stays'), 10_000, 'the refused reload');
    const refused = c.lines().find((l) => l.msg === 'reload refused; the running configuration stays');
    expect(refused?.err).toBe(`${file}: log.level: expected one of fatal, error, warn, info, debug, trace, silent, received "loud"`);

    c.proc.kill('SIGTERM');
    expect(await c.exit).toBe(0);
    const msgs = c.lines().map((l) => l.msg);
    expect(msgs.filter((m) => m === 'connected')).toHaveLength(1);
    expect(msgs.some((m) => m === 'reconnected')).toBe(false);
    expect(msgs).toContain('agent stopped');
    expect(c.stdout() + c.stderr()).not.toContain(DEVICE.secret);
  }, 40_000);
});
