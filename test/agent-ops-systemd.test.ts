/**
 * The agent CLI as systemd runs it: `alink-agent run` as a child process with NOTIFY_SOCKET (a python receiver,
 * native/test/notify-receiver.py) and WATCHDOG_USEC=1 s, against mosquitto. READY=1 comes once
 * the first connection attempt is over, with the broker up and with it down; watchdog pings continue through a
 * broker outage; SIGHUP is RELOADING=1 then READY=1; SIGTERM is STOPPING=1 and exit 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { NotifyReceiver } from '../native/test/notify-receiver';
import { freePort, startMosquitto, waitFor, type RunningBroker } from './helpers/brokers';
import { DEVICE, sleep } from './agent-support';
import { duplicateKeys } from './helpers/json-keys';

const REPO = resolve(__dirname, '..');
const TSL = join(REPO, 'simulator', 'tsl', 'example-gateway.json');

interface AgentChild {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function runAgent(configFile: string, notifySocket: string): AgentChild {
  const env: NodeJS.ProcessEnv = { ...process.env, NOTIFY_SOCKET: notifySocket, WATCHDOG_USEC: '1000000' };
  delete env.WATCHDOG_PID;
  const proc = spawn(process.execPath, ['-r', './test/helpers/ts-register.js', 'agent/cli/main.ts', 'run', '--config', configFile], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  return { proc, exited, stdout: () => out, stderr: () => err };
}

/** The STATUS= values sent so far, in order. */
function statuses(rx: NotifyReceiver): string[] {
  return rx.datagrams.flatMap((d) => d.text.split('\n').filter((l) => l.startsWith('STATUS=')).map((l) => l.slice('STATUS='.length)));
}

describe('alink-agent run under a systemd notify socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agent-ops-systemd-'));
  const children: AgentChild[] = [];
  const receivers: NotifyReceiver[] = [];
  let broker: RunningBroker | undefined;

  afterAll(async () => {
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    for (const r of receivers) await r.close();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const writeConfig = (name: string, url: string): string => {
    const file = join(dir, `${name}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        device: { productKey: DEVICE.productKey, deviceName: DEVICE.deviceName, secret: DEVICE.secret },
        broker: { url, reconnect: { initialMs: 200, maxMs: 1000 }, connectTimeoutMs: 3000 },
        thingModel: { path: TSL },
        dataDir: join(dir, `${name}-data`),
        log: { level: 'info' },
      }),
    );
    return file;
  };

  it('READY=1 once connected, watchdog pings through a broker outage, SIGHUP reloads, SIGTERM stops with exit 0', async () => {
    broker = await startMosquitto();
    const rx = await NotifyReceiver.start();
    receivers.push(rx);
    const child = runAgent(writeConfig('up', broker.url), rx.address);
    children.push(child);

    const ready = await rx.waitFor('READY=1', 15_000);
    expect(ready.pid).toBe(child.proc.pid);
    expect(ready.text).toMatch(new RegExp(`STATUS=connected to ${broker.url.replace(/[.]/g, '\\.')}, outbox 0 pending, last error: none`));
    // The pings run from the start (every 250 ms for WATCHDOG_USEC=1 s).
    await rx.waitForCount('WATCHDOG=1', 2, 3000);

    // Broker gone for a while: the agent keeps reconnecting, says so in STATUS=, and keeps pinging (it is alive).
    const outageFrom = rx.datagrams.length;
    const back = broker.restart(3500);
    await waitFor(() => statuses(rx).some((s) => s.startsWith(`reconnecting to ${broker?.url}`)), 5000, 'a reconnecting STATUS line');
    await sleep(2500);
    const pingsDuringOutage = rx.datagrams.slice(outageFrom).filter((d) => d.text === 'WATCHDOG=1').length;
    expect(pingsDuringOutage).toBeGreaterThanOrEqual(3);
    expect(statuses(rx).find((s) => s.startsWith('reconnecting to'))).toMatch(/last error: .*ECONNREFUSED|last error: connection lost/);
    // Broker back: the reconnect clears the error from the status line.
    await back;
    await waitFor(() => statuses(rx).slice(-1)[0]?.startsWith('connected to') === true, 10_000, 'a connected STATUS line after the outage');
    expect(statuses(rx).slice(-1)[0]).toBe(`connected to ${broker.url}, outbox 0 pending, last error: none`);

    // SIGHUP: RELOADING=1 (with MONOTONIC_USEC), then READY=1 again, without a restart.
    const beforeReload = rx.datagrams.length;
    child.proc.kill('SIGHUP');
    const reloading = await rx.waitFor('RELOADING=1', 5000, beforeReload);
    expect(reloading.text).toMatch(/MONOTONIC_USEC=\d+/);
    const readyAgain = await rx.waitFor('READY=1', 5000, beforeReload);
    expect(readyAgain.atMs).toBeGreaterThanOrEqual(reloading.atMs);

    const beforeStop = rx.datagrams.length;
    child.proc.kill('SIGTERM');
    await rx.waitFor('STOPPING=1', 5000, beforeStop);
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect(child.stderr()).toBe('');
    expect(child.stdout()).not.toContain(DEVICE.secret);

    const raw = child.stdout().split('\n').filter((l) => l.trim() !== '');
    // every line is JSON with each key once (pino's own `level` included)
    expect(raw.flatMap((l) => duplicateKeys(l).map((k) => `${k} in ${l}`))).toEqual([]);
    const lines = raw.map((l) => JSON.parse(l) as { level: number; msg: string; [k: string]: unknown });
    // the watchdog first looks at the agent once it is starting: no "withheld" warning on a healthy start
    expect(lines.filter((l) => l.msg.startsWith('watchdog pings withheld'))).toEqual([]);
    const readyLine = lines.find((l) => l.msg.startsWith('agent ready'));
    expect(readyLine).toMatchObject({ level: 30, broker: broker.url, productKey: DEVICE.productKey, deviceName: DEVICE.deviceName, connected: true });
    expect(readyLine?.msg).toBe(`agent ready: ${DEVICE.productKey}/${DEVICE.deviceName} connected to ${broker.url}`);
  }, 40_000);

  it('READY=1 promptly when the broker is down at start, with a reconnecting STATUS line', async () => {
    const rx = await NotifyReceiver.start();
    receivers.push(rx);
    const port = await freePort();
    const child = runAgent(writeConfig('down', `mqtt://127.0.0.1:${port}`), rx.address);
    children.push(child);

    const ready = await rx.waitFor('READY=1', 15_000);
    // The first STATUS= is sent when the systemd integration starts, right after the agent was created: READY=1
    // follows as soon as the first attempt is refused, not after a connect timeout or a retry.
    const first = rx.datagrams[0];
    expect(first?.text).toMatch(/^STATUS=/);
    expect(ready.atMs - (first?.atMs ?? 0)).toBeLessThan(1000);
    expect(ready.text).toMatch(new RegExp(`STATUS=reconnecting to mqtt://127\\.0\\.0\\.1:${port}.*last error: connect ECONNREFUSED`));
    await rx.waitForCount('WATCHDOG=1', 2, 3000);

    const beforeStop = rx.datagrams.length;
    child.proc.kill('SIGTERM');
    await rx.waitFor('STOPPING=1', 5000, beforeStop);
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect(child.stderr()).toBe('');
  }, 30_000);
});
