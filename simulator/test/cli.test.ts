/** `alink-sim serve` as a child process (TypeScript through test/helpers/ts-register.js, no build step). */
import * as $Iot from '@alicloud/iot20180120';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createIotClient } from '../sdk-client';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'simulator', 'cli.ts');
const HOOK = join(ROOT, 'test', 'helpers', 'ts-register.js');
const DEFAULT_CONFIG = join(ROOT, 'simulator', 'simulator.config.json');

const dir = mkdtempSync(join(tmpdir(), 'alink-sim-cli-'));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function writeConfig(name: string, patch: (cfg: Record<string, unknown>) => void): string {
  const cfg = JSON.parse(readFileSync(DEFAULT_CONFIG, 'utf8')) as Record<string, unknown>;
  // The shipped config's TSL paths are relative to its own folder: made absolute for a copy elsewhere.
  cfg.products = (cfg.products as { tsl: string }[]).map((p) => ({ ...p, tsl: join(ROOT, 'simulator', p.tsl) }));
  patch(cfg);
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(cfg));
  return file;
}

function runCli(args: string[]) {
  const child = spawn(process.execPath, ['-r', HOOK, CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('exit', (code) => setImmediate(() => resolve({ code, stdout, stderr }))),
  );
  const line = (match: (l: Record<string, unknown>) => boolean, ms = 15000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching log line within ${ms} ms; stdout: ${stdout}; stderr: ${stderr}`)), ms);
      const check = () => {
        for (const l of stdout.split('\n')) {
          if (!l.trim()) continue;
          const j = JSON.parse(l) as Record<string, unknown>;
          if (match(j)) {
            clearTimeout(timer);
            child.stdout!.off('data', check);
            resolve(j);
            return;
          }
        }
      };
      child.stdout!.on('data', check);
      check();
    });
  return { child, exited, line };
}

describe('alink-sim serve', () => {
  it('logs one "ready" line with both URLs, serves the API, and stops cleanly on SIGTERM', async () => {
    const cfg = writeConfig('ok.json', () => undefined);
    const run = runCli(['serve', '--config', cfg]);
    const ready = await run.line((l) => l.msg === 'ready');
    expect(ready).toMatchObject({ httpUrl: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/), mqttUrl: expect.stringMatching(/^mqtt:\/\/127\.0\.0\.1:\d+$/) });
    const res = await createIotClient(String(ready.httpUrl)).getDeviceStatus(new $Iot.GetDeviceStatusRequest({ productKey: 'a1GwDemo01', deviceName: 'gw-001' }));
    expect(res.body).toMatchObject({ success: true, data: { status: 'UNACTIVE' } });
    run.child.kill('SIGTERM');
    const out = await run.exited;
    expect(out.code).toBe(0);
    expect(out.stdout.split('\n').filter((l) => l.includes('"msg":"ready"'))).toHaveLength(1);
    expect(out.stdout).toContain('"msg":"stopped"');
    expect(out.stdout).not.toContain('testSecret');
    expect(out.stdout).not.toContain('3f6c0a9d27b84e1c95d2a7e41b08c6f3');
  });

  it('stops on SIGINT too, and takes command-line overrides', async () => {
    const cfg = writeConfig('int.json', () => undefined);
    const run = runCli(['serve', '--config', cfg, '--http-port', '0', '--log-level', 'info']);
    await run.line((l) => l.msg === 'ready');
    run.child.kill('SIGINT');
    expect((await run.exited).code).toBe(0);
  });

  it('exits 2 with one line naming the key for a bad config', async () => {
    const cfg = writeConfig('bad.json', (c) => ((c.http as Record<string, unknown>).port = 'abc'));
    const out = await runCli(['serve', '--config', cfg]).exited;
    expect(out.code).toBe(2);
    expect(out.stderr.trim().split('\n')).toEqual([`alink-sim: ${cfg}: http.port: expected integer 0..65535, received "abc"`]);
  });

  it('exits 2 for a bad command line or a TSL file that does not exist', async () => {
    expect((await runCli(['serve']).exited).code).toBe(2);
    const cfg = writeConfig('notsl.json', (c) => (c.products = [{ tsl: 'missing.json' }]));
    const out = await runCli(['serve', '--config', cfg]).exited;
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('products.0.tsl');
  });
});
