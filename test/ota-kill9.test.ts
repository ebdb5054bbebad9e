/**
 * kill -9 of the agent in the middle of an OTA download, on both brokers: the agent runs as its own process
 * (`alink-agent run`), the official cloud SDK creates the package and the job on the simulator, the test kills
 * the process with SIGKILL once several blocks are staged, starts it again on the same data directory, and the
 * job completes. The simulator's download log shows where the second process began: at the offset recorded in
 * SQLite, which is at most one write block behind what was on disk at the kill, and never zero; the bytes fetched
 * after the restart are the rest of the file, not all of it.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPackage, staticJob, waitTask } from '../simulator/test/ota-harness';
import { waitFor } from './helpers/brokers';
import { spawnAgentChild } from './helpers/agent-child';
import { MODES, startChannelSim, type ChannelSim } from './channels-support';
import { DEVICE } from './agent-support';
import { TSL_PATH } from './agent-e2e-support';
import { bytes } from './ota-support';

const DN = 'gw-002';
const BLOCK = 1024 * 1024;
const SIZE = 48 * BLOCK + 12_345;

const spawnAgent = (configFile: string) => spawnAgentChild(configFile, { inherit: !!process.env.OTA_KILL9_DEBUG });

/** Bytes of the one staged file on disk (0 before it exists). */
function stagedBytes(dataDir: string): number {
  const dir = join(dataDir, 'ota', `${DEVICE.productKey}+${DN}`, 'default');
  try {
    return readdirSync(dir)
      .filter((f) => !f.endsWith('.boot'))
      .reduce((n, f) => n + statSync(join(dir, f)).size, 0);
  } catch {
    return 0;
  }
}

describe.each(MODES)('OTA download under kill -9 (%s broker)', (mode) => {
  let s: ChannelSim;
  let dir: string;

  beforeAll(async () => {
    s = await startChannelSim(mode, { ota: { minuteMs: 60_000, onlinePushDelayMs: 100 } } as never);
    dir = mkdtempSync(join(tmpdir(), `ota-kill9-${mode}-`));
  });
  afterAll(async () => {
    await s?.sim.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the second process fetches only the rest of the file, from the durable offset', async () => {
    writeFileSync(join(dir, 'VERSION'), '1.0.0\n');
    const config = join(dir, 'agent.json');
    writeFileSync(
      config,
      JSON.stringify({
        device: { productKey: DEVICE.productKey, deviceName: DN, secret: DEVICE.secret },
        broker: { url: s.mqttUrl, protocolVersion: mode === 'managed' ? 5 : 4, reconnect: { initialMs: 100, maxMs: 500, stableMs: 1000 }, connectTimeoutMs: 3000 },
        thingModel: { path: TSL_PATH },
        dataDir: join(dir, 'data'),
        log: { level: process.env.OTA_KILL9_DEBUG ?? 'warn' },
        ota: {
          modules: [{ name: 'default', version: { file: join(dir, 'VERSION') }, install: { command: ['/bin/sh', '-c', `cp "$1" "${dir}/installed.bin" && echo "$OTA_VERSION" > "${dir}/VERSION"`, 'install'] } }],
          blockBytes: BLOCK,
          confirmAfterMs: 200,
        },
      }),
    );
    const file = bytes(SIZE, 42);
    const firmwareId = await createPackage(s.iot, s.sim, { files: [file], destVersion: '2.0.0' });
    let agent = spawnAgent(config);
    try {
      // Connected and informed: the job's notice will find it online.
      await waitFor(async () => {
        const v = await s.iot.listOTAModuleVersionsByDevice(new (await import('@alicloud/iot20180120')).ListOTAModuleVersionsByDeviceRequest({ productKey: DEVICE.productKey, deviceName: DN }));
        return v.body?.data?.simpleOTAModuleInfo?.some((m) => m.moduleVersion === '1.0.0');
      }, 20_000, 'the first agent to inform its version');
      const jobId = await staticJob(s.iot, { firmwareId, targetDeviceName: [DN] });
      const seen = await waitFor(() => {
        const n = stagedBytes(join(dir, 'data'));
        return n >= 6 * BLOCK ? n : undefined;
      }, 20_000, 'six blocks staged');
      agent.kill('SIGKILL');
      const first = await agent.exited;
      expect(first.signal).toBe('SIGKILL');
      const atKill = stagedBytes(join(dir, 'data'));
      expect(atKill).toBeLessThan(SIZE);

      agent = spawnAgent(config);
      await waitTask(s.iot, jobId, DN, 'SUCCEEDED', 30_000);
      const https = s.sim.ota.downloads(firmwareId).filter((r) => r.channel === 'https');
      // The first process's request, then the second's; a loaded machine may add a stall retry of the first
      // process (a 206 of its own) before the kill.
      expect(https.length).toBeGreaterThanOrEqual(2);
      expect(https.length).toBeLessThanOrEqual(3);
      // (`complete` of the first says only that the simulator handed the whole body to its socket.)
      expect(https[0]).toMatchObject({ status: 200, start: 0 });
      for (const r of https.slice(1)) expect(r.status).toBe(206);
      const resumed = https[https.length - 1]!;
      expect(resumed).toMatchObject({ status: 206, end: SIZE - 1, complete: true });
      const start = resumed.start!;
      // Blocks are written whole; in the same boot the restart keeps every byte the killed process wrote (the page
      // cache has them), so the resume starts at the file's end: what is fetched again is at most the block that
      // was still in memory.
      expect(start % BLOCK).toBe(0);
      expect(start).toBe(atKill);
      expect(start).toBeGreaterThanOrEqual(Math.max(BLOCK, seen - BLOCK));
      const refetched = resumed.end! + 1 - start;
      expect(refetched).toBe(SIZE - start);
      expect(readFileSync(join(dir, 'installed.bin')).equals(file)).toBe(true);
      process.stdout.write(`ota kill -9 (${mode}): ${seen} bytes seen staged, ${atKill} on disk after the kill, resumed at ${start}; refetched ${refetched} of ${SIZE}\n`);
    } finally {
      agent.kill('SIGKILL');
      await agent.exited;
    }
  }, 90_000);
});
