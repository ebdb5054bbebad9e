/**
 * deploy/Dockerfile for real (slow: about 5 minutes with nothing cached on 2 cores, about 3 with the base rootfs
 * cached in /var/tmp; the image build is most of it).
 *
 * Installs docker.io and debootstrap where missing, starts a private dockerd (test/deploy/docker.ts), makes the
 * node:20-bookworm-slim base locally when it cannot be pulled, builds the image from this working tree and from a
 * clean export of HEAD, checks what the image holds, runs it, waits for its HEALTHCHECK, then drives the simulator
 * inside through the official cloud SDK from this host (SetDeviceProperty; QueryDevicePropertyStatus shows the
 * value the agent inside reported back), and `docker stop`s it: exit 0, quickly. Tears down everything it made.
 * Prints the image size, the size of its app layers and the build time.
 */
import * as $Iot from '@alicloud/iot20180120';
import { mkdtempSync, rmSync } from 'node:fs';
import { createIotClient } from '../../simulator/sdk-client';
import { BASE_IMAGE, DockerEngine } from './docker';
import { REPO, ensurePackages, secs, sh, until } from './support';

jest.setTimeout(20 * 60_000);

const TAG = `alink-sim-test:${process.pid}`;
const CLEAN_TAG = `alink-sim-test-clean:${process.pid}`;
const NAME = `alink-sim-test-${process.pid}`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

let engine: DockerEngine | undefined;
let exportDir: string | undefined;
let buildMs = 0;
const facts: string[] = [];
const t0 = Date.now();

beforeAll(async () => {
  ensurePackages(['docker.io', 'debootstrap']);
  engine = await DockerEngine.start();
  const base = engine.ensureBaseImage();
  facts.push(`base image ${BASE_IMAGE}: ${base} (${secs(Date.now() - t0)} for packages, daemon and base)`);
});

afterAll(async () => {
  if (engine) {
    engine.docker(['rm', '-f', NAME], { allowFail: true });
    engine.docker(['rmi', '-f', TAG, CLEAN_TAG], { allowFail: true });
    await engine.stop();
  }
  if (exportDir) rmSync(exportDir, { recursive: true, force: true });
  facts.push(`whole test ${secs(Date.now() - t0)}`);
  console.log(`container deployment test\n  ${facts.join('\n  ')}`);
});

describe('the simulator container (deploy/Dockerfile)', () => {
  it('builds from the working tree', () => {
    const e = engine as DockerEngine;
    const r = e.docker(['build', '--network', 'host', '-f', 'deploy/Dockerfile', '-t', TAG, '.'], { cwd: REPO, timeoutMs: 15 * 60_000 });
    buildMs = r.ms;
    const size = Number(e.docker(['image', 'inspect', '-f', '{{.Size}}', TAG]).stdout.trim());
    const baseSize = Number(e.docker(['image', 'inspect', '-f', '{{.Size}}', BASE_IMAGE]).stdout.trim());
    facts.push(`build from the working tree: ${secs(buildMs)}; image ${mb(size)}, base ${mb(baseSize)}, app layers ${mb(size - baseSize)}`);
    expect(size).toBeGreaterThan(baseSize);
  });

  it('builds from a clean export of HEAD (no host node_modules, dist or native/build to lean on)', () => {
    const e = engine as DockerEngine;
    exportDir = mkdtempSync('/var/tmp/alink-clean-');
    // tar.umask=022: the modes of a checkout (git archive defaults to 0664), which BuildKit's layer cache keys include
    sh(`git -C ${REPO} -c tar.umask=022 archive HEAD | tar -x -C ${exportDir}`);
    const r = e.docker(['build', '--network', 'host', '-f', 'deploy/Dockerfile', '-t', CLEAN_TAG, '.'], { cwd: exportDir, timeoutMs: 15 * 60_000 });
    facts.push(`build from a clean export of HEAD: ${secs(r.ms)} (layer cache of the first build shared)`);
    // .dockerignore leaves a working tree's context equal to a checkout's: with nothing uncommitted, the same image
    const dirty = sh(`git -C ${REPO} status --porcelain --untracked-files=all`).stdout.trim();
    const ids = [TAG, CLEAN_TAG].map((t) => e.docker(['image', 'inspect', '-f', '{{.Id}}', t]).stdout.trim());
    if (dirty === '') expect(ids[0]).toBe(ids[1]);
    else facts.push(`working tree has uncommitted changes: images ${ids[0] === ids[1] ? 'equal' : 'differ'}`);
    const inside = e.docker(['run', '--rm', '--entrypoint', 'sh', CLEAN_TAG, '-c', 'ls /app/dist && test -f /app/native/build/Release/alink_notify.node && echo ok']).stdout;
    expect(inside).toContain('ok');
  });

  it('runs as a non-root user with the notify addon and without build tools or object files', () => {
    const e = engine as DockerEngine;
    const cfg = JSON.parse(e.docker(['image', 'inspect', '-f', '{{json .Config}}', TAG]).stdout) as { User: string; Healthcheck?: { Test: string[] }; StopSignal?: string };
    expect(cfg.User).toBe('node');
    expect(cfg.Healthcheck?.Test.join(' ')).toContain('/healthz');
    const probe = [
      'id -u',
      // the addon loads (node-gyp-build finds it beside dist/, as the agent's loader does)
      `node -e "const n = require('/app/native'); console.log('addon', typeof n.notify, n.path)"`,
      'for t in g++ gcc make python3; do command -v $t >/dev/null && echo "tool $t"; done',
      'find /app -name "*.o" -o -name "*.a" -o -name "*.mk" -o -name obj.target -o -name "*.c" -o -name "*.cc" -o -name "*.gyp.orig" | sed "s/^/object /"',
      'ls /app/node_modules/better-sqlite3/build/Release',
      'test -e /app/.git && echo "leak .git"; test -e /app/test && echo "leak test"; true',
    ].join('; ');
    const out = e.docker(['run', '--rm', '--entrypoint', 'sh', TAG, '-c', probe]).stdout;
    const lines = out.trim().split('\n');
    expect(lines[0]).toBe('1000');
    expect(out).toMatch(/^addon function \/app\/native\/build\/Release\/alink_notify\.node$/m);
    expect(lines.filter((l) => /^(tool|object|leak) /.test(l))).toEqual([]);
    expect(out).toContain('better_sqlite3.node');
    expect(out).not.toContain('test_extension.node');
  });

  it('answers the official cloud SDK from the host: SetDeviceProperty reaches the agent inside', async () => {
    const e = engine as DockerEngine;
    e.docker(['run', '-d', '--name', NAME, '-p', '127.0.0.1::8080', '-p', '127.0.0.1::1883', TAG]);
    const port = (p: number) => Number(/:(\d+)\s*$/m.exec(e.docker(['port', NAME, `${p}/tcp`]).stdout)?.[1]);
    const httpUrl = `http://127.0.0.1:${port(8080)}`;
    const t0 = Date.now();
    // HEALTHCHECK: healthy only once the agent inside is connected to the simulator
    const health = await until('the container to become healthy', () => {
      const s = e.docker(['inspect', '-f', '{{.State.Health.Status}} {{.State.Status}}', NAME]).stdout.trim();
      if (s.endsWith('exited')) throw new Error(`container exited:\n${e.docker(['logs', NAME], { allowFail: true }).stdout}`);
      return s.startsWith('healthy') ? s : undefined;
    }, 90_000, 500);
    facts.push(`run to healthy: ${secs(Date.now() - t0)}`);
    expect(health).toBe('healthy running');

    const iot = createIotClient(httpUrl);
    const device = { productKey: 'a1GwDemo01', deviceName: 'gw-001' };
    const detail = await iot.getDeviceStatus(new $Iot.GetDeviceStatusRequest(device));
    expect(detail.body.data?.status).toBe('ONLINE');
    const set = await iot.setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...device, items: JSON.stringify({ ReportInterval: 120 }) }));
    expect(set.body.success).toBe(true);
    // The agent applies the set, replies 200 and posts the new state; the platform's shadow then holds it.
    const value = await until('ReportInterval = 120 in QueryDevicePropertyStatus', async () => {
      const q = await iot.queryDevicePropertyStatus(new $Iot.QueryDevicePropertyStatusRequest(device));
      const v = q.body.data?.list?.propertyStatusInfo?.find((p) => p.identifier === 'ReportInterval')?.value;
      return v === '120' ? v : undefined;
    }, 15_000, 200);
    expect(value).toBe('120');
    const logs = e.docker(['logs', NAME]).stdout;
    expect(logs).not.toContain('3f6c0a9d27b84e1c95d2a7e41b08c6f3');
    expect(logs).not.toMatch(/notify addon.*unavailable/i);
  });

  it('stops cleanly on docker stop: exit 0, quickly', () => {
    const e = engine as DockerEngine;
    const r = e.docker(['stop', '-t', '20', NAME], { timeoutMs: 60_000 });
    facts.push(`docker stop: ${secs(r.ms)}`);
    const state = e.docker(['inspect', '-f', '{{.State.ExitCode}} {{.State.OOMKilled}}', NAME]).stdout.trim();
    expect(state).toBe('0 false');
    // well inside the 20 s grace: the entrypoint forwarded SIGTERM rather than waiting for SIGKILL
    expect(r.ms).toBeLessThan(15_000);
    expect(e.docker(['logs', NAME]).stderr).toContain('exiting with status 0');
  });
});

