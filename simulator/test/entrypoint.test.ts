/**
 * deploy/docker-entrypoint.sh, driven directly (no Docker engine here): stand-in simulator and agent commands
 * record what happened to them, and the test checks startup order, the URLs handed over, signal forwarding and
 * exit handling.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCRIPT = join(__dirname, '..', '..', 'deploy', 'docker-entrypoint.sh');

// A stand-in simulator: prints a pino-like ready line after a delay, records signals, exits 0 on SIGTERM.
const FAKE_SIM = `
const fs = require('fs'); const dir = process.argv[2]; const readyAfter = Number(process.argv[3] || 100);
const rec = (s) => fs.appendFileSync(dir + '/events', Date.now() + ' sim ' + s + '\\n');
rec('start');
process.on('SIGTERM', () => { rec('SIGTERM'); process.exit(0); });
if (readyAfter >= 0) setTimeout(() => { rec('ready'); console.log(JSON.stringify({ level: 30, msg: 'ready', httpUrl: 'http://127.0.0.1:18080', mqttUrl: 'mqtt://127.0.0.1:11883' })); }, readyAfter);
else setTimeout(() => process.exit(7), 50);
setInterval(() => {}, 1000);
`;
// A stand-in agent: records its environment and signals; exits with argv[3] after argv[4] ms if given.
const FAKE_AGENT = `
const fs = require('fs'); const dir = process.argv[2];
const rec = (s) => fs.appendFileSync(dir + '/events', Date.now() + ' agent ' + s + '\\n');
rec('start ' + process.env.SIM_MQTT_URL + ' ' + process.env.SIM_HTTP_URL);
process.on('SIGTERM', () => { rec('SIGTERM'); process.exit(0); });
if (process.argv[3]) setTimeout(() => { rec('exit'); process.exit(Number(process.argv[3])); }, Number(process.argv[4] || 100));
setInterval(() => {}, 1000);
`;

interface Run {
  child: ChildProcess;
  dir: string;
  exited: Promise<number | null>;
  events(): string[];
}

const runs: Run[] = [];

function run(simArgs: string, agentArgs = '', simCmd?: (dir: string) => string): Run {
  const dir = mkdtempSync(join(tmpdir(), 'entrypoint-'));
  writeFileSync(join(dir, 'sim.js'), FAKE_SIM);
  writeFileSync(join(dir, 'agent.js'), FAKE_AGENT);
  const child = spawn('bash', [SCRIPT], {
    env: {
      PATH: process.env.PATH ?? '',
      SIM_CMD: simCmd ? simCmd(dir) : `${process.execPath} ${dir}/sim.js ${dir} ${simArgs}`,
      AGENT_CMD: `${process.execPath} ${dir}/agent.js ${dir} ${agentArgs}`,
      SIM_READY_TIMEOUT: '20',
      STOP_TIMEOUT: '3',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.resume();
  child.stderr?.resume();
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const r = {
    child,
    dir,
    exited,
    events: () => (existsSync(join(dir, 'events')) ? readFileSync(join(dir, 'events'), 'utf8').trim().split('\n').map((l) => l.split(' ').slice(1).join(' ')) : []),
  };
  runs.push(r);
  return r;
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

afterAll(async () => {
  for (const r of runs) {
    if (r.child.exitCode === null) r.child.kill('SIGKILL');
    await r.exited;
    rmSync(r.dir, { recursive: true, force: true });
  }
});

describe('docker-entrypoint.sh', () => {
  it('starts the agent only after the simulator is ready, with its URLs, and forwards SIGTERM to both', async () => {
    const r = run('300');
    await until(() => r.events().some((e) => e.startsWith('agent start')));
    const ev = r.events();
    expect(ev.indexOf('sim ready')).toBeGreaterThanOrEqual(0);
    expect(ev.indexOf('sim ready')).toBeLessThan(ev.findIndex((e) => e.startsWith('agent start')));
    expect(ev).toContain('agent start mqtt://127.0.0.1:11883 http://127.0.0.1:18080');
    r.child.kill('SIGTERM');
    expect(await r.exited).toBe(0);
    expect(r.events()).toEqual(expect.arrayContaining(['sim SIGTERM', 'agent SIGTERM']));
  });

  it('stops the simulator and exits with the agent status when the agent dies', async () => {
    const r = run('50', '3 200');
    expect(await r.exited).toBe(3);
    expect(r.events()).toEqual(expect.arrayContaining(['agent exit', 'sim SIGTERM']));
  });

  it('never starts the agent when the simulator fails before ready', async () => {
    const r = run('-1');
    expect(await r.exited).toBe(7);
    expect(r.events().some((e) => e.startsWith('agent'))).toBe(false);
  });

  it('works with the real simulator CLI: its ready line hands the real URLs to the agent', async () => {
    const root = join(__dirname, '..', '..');
    const hook = join(root, 'test', 'helpers', 'ts-register.js');
    const r = run('', '', () => `${process.execPath} -r ${hook} ${join(root, 'simulator', 'cli.ts')} serve --config ${join(root, 'simulator', 'simulator.config.json')}`);
    await until(() => r.events().some((e) => e.startsWith('agent start')), 20000);
    expect(r.events().find((e) => e.startsWith('agent start'))).toMatch(/^agent start mqtt:\/\/127\.0\.0\.1:\d+ http:\/\/127\.0\.0\.1:\d+$/);
    r.child.kill('SIGTERM');
    expect(await r.exited).toBe(0);
    expect(r.events()).toContain('agent SIGTERM');
  });

  it('forwards SIGINT while waiting for the simulator', async () => {
    const r = run('3000');
    await until(() => r.events().includes('sim start'));
    r.child.kill('SIGINT');
    expect(await r.exited).toBe(0);
    expect(r.events()).toContain('sim SIGTERM');
    expect(r.events().some((e) => e.startsWith('agent'))).toBe(false);
  });
});
