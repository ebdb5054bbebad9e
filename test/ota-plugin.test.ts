/**
 * OTA through a plugin's `ota` claim, on both brokers, through the official cloud SDK on the simulator: the
 * plugin reads the version and installs; an install that needs a restart is confirmed after the next start; a new
 * version that never stays up is rolled back after `ota.healthyBoots` starts and reported failed; an MQTT block
 * download; the job's state in /healthz and the OTA series in /metrics.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { definePlugin, type OtaFile, type OtaJobInfo } from '../handlers/api';
import { createPackage, staticJob, waitTask } from '../simulator/test/ota-harness';
import { waitFor } from './helpers/brokers';
import { MODES, startChannelAgent, startChannelSim, type ChannelAgent, type ChannelSim } from './channels-support';
import { DEVICE as TEST_DEVICE } from './agent-support';
import { bytes, sha256 } from './ota-support';

const DN = 'gw-002';
const DEVICE = { productKey: TEST_DEVICE.productKey, deviceName: DN };

/** A firmware the plugin "flashes": what runs now, what the next start runs, what was installed and rolled back. */
interface Firmware {
  running: string;
  afterRestart?: string;
  installed: { files: OtaFile[]; info: OtaJobInfo; digest: string }[];
  rollbacks: string[];
  progress: number[];
}

function firmwarePlugin(fw: Firmware) {
  return definePlugin({
    name: 'fw-driver',
    setup: () => ({
      ota: {
        modules: ['default'],
        version: () => fw.running,
        install: async (files, info, progress) => {
          const { readFileSync } = await import('node:fs');
          fw.installed.push({ files: [...files], info, digest: sha256(readFileSync(files[0]!.path)) });
          progress(50, 'flashing');
          fw.progress.push(50);
          fw.afterRestart = info.version;
          return { restartRequired: true };
        },
        rollback: (info) => {
          fw.rollbacks.push(info.version);
          fw.afterRestart = undefined;
        },
      },
    }),
  });
}

describe.each(MODES)('OTA through a plugin on the %s broker', (mode) => {
  let s: ChannelSim;
  let dir: string;
  let device: ChannelAgent | undefined;
  const fw: Firmware = { running: '1.0.0', installed: [], rollbacks: [], progress: [] };

  /** A start of the device: what the last install left becomes the running version. */
  const boot = async () => {
    if (fw.afterRestart) fw.running = fw.afterRestart;
    device = await startChannelAgent(s, DEVICE, [{ module: 'fw-driver', plugin: firmwarePlugin(fw) }], {
      dataDir: join(dir, 'data'),
      health: { enabled: true, port: 0 },
      ota: { modules: [{ name: 'default', version: { plugin: 'fw-driver' } }], confirmAfterMs: 300, healthyBoots: 2, mqttBlockBytes: 4096 },
    } as never);
    return device;
  };
  const halt = async () => {
    await device?.agent.stop();
    device = undefined;
  };

  beforeAll(async () => {
    s = await startChannelSim(mode, { ota: { minuteMs: 60_000, onlinePushDelayMs: 100 } } as never);
    dir = mkdtempSync(join(tmpdir(), 'ota-plugin-'));
    await boot();
  });
  afterAll(async () => {
    await halt();
    await s?.sim.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('installs through the plugin over MQTT blocks, waits for the restart, and confirms the new version after it', async () => {
    const file = bytes(20_000, 3);
    const firmwareId = await createPackage(s.iot, s.sim, { files: [file], destVersion: '2.0.0' });
    const jobId = await staticJob(s.iot, { firmwareId, targetDeviceName: [DN], downloadProtocol: 'MQTT' });
    await waitFor(() => device!.log.lines().some((l) => l.msg === 'ota job waiting for a restart into the new version'), 10_000, 'the install');
    expect(fw.installed[0]).toMatchObject({ digest: sha256(file), info: { module: 'default', version: '2.0.0', previousVersion: '1.0.0', device: DEVICE } });
    const blocks = new Set(s.sim.ota.downloads(firmwareId).filter((r) => r.channel === 'mqtt').map((r) => r.start));
    expect([...blocks].sort((a, b) => a! - b!)).toEqual(Array.from({ length: Math.ceil(file.length / 4096) }, (_, i) => i * 4096));

    // While waiting, /healthz shows the job and /metrics its progress.
    const base = `http://127.0.0.1:${device!.agent.healthAddress!.port}`;
    const health = (await (await fetch(`${base}/healthz`)).json()) as { ota: unknown } & Record<string, unknown>;
    expect(JSON.stringify(health)).toContain('"state":"installed"');
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/alink_agent_ota_progress_percent\{module="default"\} 9\d/);
    expect((await waitTask(s.iot, jobId, DN, 'IN_PROGRESS', 2000)).destVersion).toBe('2.0.0');

    await halt();
    await boot();
    await waitTask(s.iot, jobId, DN, 'SUCCEEDED', 10_000);
    expect(fw.running).toBe('2.0.0');
  });

  it('rolls back a version that never stays up for ota.healthyBoots starts, and reports it failed', async () => {
    const firmwareId = await createPackage(s.iot, s.sim, { files: [bytes(5000, 4)], destVersion: '3.0.0' });
    const jobId = await staticJob(s.iot, { firmwareId, targetDeviceName: [DN] });
    await waitFor(() => fw.afterRestart === '3.0.0', 10_000, 'the install of 3.0.0');
    await halt();
    // Two starts that end before confirmAfterMs: a crash loop.
    for (let i = 0; i < 2; i++) {
      await boot();
      await halt();
    }
    expect(fw.rollbacks).toEqual([]);
    await boot();
    const t = await waitTask(s.iot, jobId, DN, 'FAILED', 10_000);
    expect(t.taskDesc).toContain('did not stay up 300 ms in 2 starts (ota.healthyBoots); rolled back');
    expect(fw.rollbacks).toEqual(['3.0.0']);
    const base = `http://127.0.0.1:${device!.agent.healthAddress!.port}`;
    expect(await (await fetch(`${base}/metrics`)).text()).toContain('alink_agent_ota_failures_total{module="default",code="ota_not_healthy"} 1');
  });
});
