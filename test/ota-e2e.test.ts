/**
 * OTA end to end on both brokers (docs/ota.md): the official cloud SDK creates packages and jobs on the
 * simulator, the agent takes the notice, downloads from the simulator's file server, verifies, installs with the
 * built-in command installer and informs the new version; the task states are read back through the SDK.
 * A whole update, a multi-file package, a dropped connection mid-file, an expired URL refreshed by pull, a
 * corrupted file (-3, nothing installed), a failing installer (-4, previous version kept, the next job taken), a
 * notice that waits for an install, a cancelled task, NeedConfirm, and a notice for a module nobody handles.
 */
import * as $Iot from '@alicloud/iot20180120';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPackage, staticJob, taskOf, waitTask } from '../simulator/test/ota-harness';
import { waitFor } from './helpers/brokers';
import { MODES, startChannelAgent, startChannelSim, type ChannelAgent, type ChannelSim } from './channels-support';
import { DEVICE as TEST_DEVICE } from './agent-support';
import { bytes } from './ota-support';

const DEVICE = { productKey: TEST_DEVICE.productKey, deviceName: 'gw-001' };
const DN = DEVICE.deviceName;

/** The built-in installer's command: refuses versions named "bad", takes a second over those named "slow", else concatenates the files and sets the version. */
function installer(dir: string): string[] {
  const script = [
    'set -e',
    'case "$OTA_VERSION" in *bad*) echo "flash refused by the bootloader" >&2; exit 3;; *slow*) sleep 1;; esac',
    `cat "$@" > "${dir}/installed.bin"`,
    `echo "$OTA_VERSION" > "${dir}/VERSION"`,
  ].join('\n');
  return ['/bin/sh', '-c', script, 'install'];
}

export function otaConfig(dir: string, extra: Record<string, unknown> = {}) {
  return {
    modules: [
      { name: 'default', version: { file: join(dir, 'VERSION') }, install: { command: installer(dir) } },
      { name: 'mcu', version: { command: 'echo 0.9' }, install: { command: ['/bin/false'] } },
    ],
    retryDelayMs: 50,
    confirmAfterMs: 200,
    idleTimeoutMs: 5000,
    blockBytes: 64 * 1024,
    ...extra,
  };
}

describe.each(MODES)('OTA end to end on the %s broker', (mode) => {
  let s: ChannelSim;
  let dir: string;
  let device: ChannelAgent | undefined;
  const version = () => readFileSync(join(dir, 'VERSION'), 'utf8').trim();

  const start = async (extra: Record<string, unknown> = {}) => {
    device = await startChannelAgent(s, DEVICE, [], { dataDir: join(dir, 'data'), ota: otaConfig(dir, extra) } as never);
    return device;
  };
  const stop = async () => {
    await device?.agent.stop();
    device = undefined;
  };

  beforeAll(async () => {
    s = await startChannelSim(mode, { ota: { minuteMs: 60_000, onlinePushDelayMs: 100 } } as never);
    await s.iot.createOTAModule(new $Iot.CreateOTAModuleRequest({ productKey: DEVICE.productKey, moduleName: 'mcu' }));
    await s.iot.createOTAModule(new $Iot.CreateOTAModuleRequest({ productKey: DEVICE.productKey, moduleName: 'nobody' }));
    dir = mkdtempSync(join(tmpdir(), 'ota-e2e-'));
    writeFileSync(join(dir, 'VERSION'), '1.0.0\n');
    await start();
  });

  afterAll(async () => {
    await device?.cleanup();
    await s?.sim.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const versions = async () => {
    const r = await s.iot.listOTAModuleVersionsByDevice(new $Iot.ListOTAModuleVersionsByDeviceRequest({ productKey: DEVICE.productKey, deviceName: DN, pageSize: 10 }));
    return Object.fromEntries((r.body?.data?.simpleOTAModuleInfo ?? []).map((m) => [m.moduleName, m.moduleVersion]));
  };

  it('informs every module version at start', async () => {
    await waitFor(async () => (await versions()).default === '1.0.0' && (await versions()).mcu === '0.9', 8000, 'the informed versions');
  });

  it('runs a whole update: notice, download, verify, install, inform → SUCCEEDED', async () => {
    const file = bytes(300_000, 11);
    const firmwareId = await createPackage(s.iot, s.sim, { files: [file], destVersion: '2.0.0' });
    const jobId = await staticJob(s.iot, { firmwareId, targetDeviceName: [DN] });
    const task = await waitTask(s.iot, jobId, DN, 'SUCCEEDED', 15_000);
    expect(task).toMatchObject({ srcVersion: '1.0.0', destVersion: '2.0.0' });
    expect(readFileSync(join(dir, 'installed.bin')).equals(file)).toBe(true);
    expect(version()).toBe('2.0.0');
    expect((await versions()).default).toBe('2.0.0');
    const states = () => device!.log.lines().filter((l) => String(l.msg).startsWith('ota job')).map((l) => l.state);
    // The platform may mark the task SUCCEEDED on the inform before the agent has logged its own last state change.
    await waitFor(() => states().includes('succeeded'), 5000, 'the succeeded state change');
    expect(states()).toEqual(expect.arrayContaining(['downloading', 'verified', 'installing', 'succeeded']));
  });

  it('installs a multi-file package, the files in order', async () => {
    const files = [bytes(70_000, 1), bytes(5, 2), bytes(130_000, 3)];
    const firmwareId = await createPackage(s.iot, s.sim, { files, destVersion: '2.1.0', signMethod: 'MD5' });
    const jobId = await staticJob(s.iot, { firmwareId, targetDeviceName: [DN] });
    await waitTask(s.iot, jobId, DN, 'SUCCEEDED', 15_000);
    expect(readFileSync(join(dir, 'installed.bin')).equals(Buffer.concat(files))).toBe(true);
  });

  it('resumes after a dropped connection with Range, from where the drop left it', async () => {
    const file = bytes(400_000, 4);
    const firmwareId = await createPackage(s.iot, s.sim, { files: [file], destVersion: '2.2.0' });
    s.sim.ota.setFault(firmwareId, { dropAfterBytes: 150_000 });
    const jobId = await staticJob(s.iot, { firmwareId, targetDeviceName: [DN] });
    await waitTask(s.iot, jobId, DN, 'SUCCEEDED', 15_000);
    const d = s.sim.ota.downloads(firmwareId).filter((r) => r.channel === 'https');
    expect(d.length).toBe(2);
    expect(d[0]).toMatchObject({ status: 200, start: 0, complete: false });
    expect(d[1]).toMatchObject({ status: 206, end: file.length - 1, complete: true });
    expect(d[1]!.start).toBeGreaterThan(0);
    expect(d[1]!.start).toBeLessThanOrEqual(150_000);
    expect(readFileSync(join(dir, 'installed.bin')).equals(file)).toBe(true);
  });

  it('refuses a corrupted file with -3 and installs nothing', async () => {
    const file = bytes(100_000, 5);
    const firmwareId = await createPackage(s.iot, s.sim, { files: [file], destVersion: '2.3.0' });
    s.sim.ota.setFault(firmwareId, { corruptByteAt: 777 });
    const before = readFileSync(join(dir, 'installed.bin'));
    const jobId = await staticJob(s.iot, { firmwareId, targetDeviceName: [DN] });
    const task = await waitTask(s.iot, jobId, DN, 'FAILED', 15_000);
    expect(task.taskDesc).toMatch(/^firmware\.bin: expected SHA-256 [0-9a-f]{64}, received [0-9a-f]+/);
    expect(readFileSync(join(dir, 'installed.bin')).equals(before)).toBe(true);
    expect(version()).toBe('2.2.0');
    expect(device!.log.lines().some((l) => l.code === 'OTA_DIGEST_MISMATCH' && l.step === -3)).toBe(true);
  });

  it('reports a failing installer with -4, keeps the previous version, and takes the next job', async () => {
    const bad = await createPackage(s.iot, s.sim, { files: [bytes(1000, 6)], destVersion: '3.0.0-bad' });
    const badJob = await staticJob(s.iot, { firmwareId: bad, targetDeviceName: [DN] });
    const failed = await waitTask(s.iot, badJob, DN, 'FAILED', 15_000);
    expect(failed.taskDesc).toContain('flash refused by the bootloader');
    expect(version()).toBe('2.2.0');
    expect(device!.log.lines().some((l) => l.code === 'OTA_INSTALL_FAILED' && l.step === -4)).toBe(true);
    const good = await createPackage(s.iot, s.sim, { files: [bytes(1000, 7)], destVersion: '3.0.0' });
    const goodJob = await staticJob(s.iot, { firmwareId: good, targetDeviceName: [DN] });
    await waitTask(s.iot, goodJob, DN, 'SUCCEEDED', 15_000);
    expect(version()).toBe('3.0.0');
  });

  it('takes a notice pushed while another job installs (an overwriting job) once that install has ended', async () => {
    const slow = await createPackage(s.iot, s.sim, { files: [bytes(1000, 13)], destVersion: '3.0.1-slow' });
    const slowJob = await staticJob(s.iot, { firmwareId: slow, targetDeviceName: [DN] });
    await waitFor(() => device!.log.lines().some((l) => l.msg === 'ota job installing' && l.version === '3.0.1-slow'), 8000, 'the slow install');
    // The platform pushes a second job for a module only when it overwrites the unfinished one (OverwriteMode 1).
    const next = await createPackage(s.iot, s.sim, { files: [bytes(1000, 14)], destVersion: '3.0.2' });
    const nextJob = await staticJob(s.iot, { firmwareId: next, targetDeviceName: [DN], overwriteMode: 1 });
    await waitFor(() => device!.log.lines().some((l) => l.msg === 'ota notice waits: the module is installing another job' && l.version === '3.0.2'), 8000, 'the waiting notice');
    await waitTask(s.iot, nextJob, DN, 'SUCCEEDED', 15_000);
    expect((await taskOf(s.iot, slowJob, DN))?.taskStatus).toBe('CANCELED');
    expect(readFileSync(join(dir, 'installed.bin')).equals(bytes(1000, 14))).toBe(true);
    expect(version()).toBe('3.0.2');
  });

  it('answers a notice for a module no ota.modules entry handles with a failure that says so', async () => {
    const fw = await createPackage(s.iot, s.sim, { files: [bytes(10, 8)], destVersion: '1.0', moduleName: 'nobody' });
    const jobId = await staticJob(s.iot, { firmwareId: fw, targetDeviceName: [DN] });
    const t = await waitTask(s.iot, jobId, DN, 'FAILED', 15_000);
    expect(t.taskDesc).toBe('module "nobody" is not handled by this device (no ota.modules entry)');
  });

  it('waits for ConfirmOTATask on a NeedConfirm job, then updates', async () => {
    const fw = await createPackage(s.iot, s.sim, { files: [bytes(2000, 9)], destVersion: '3.1.0' });
    const jobId = await staticJob(s.iot, { firmwareId: fw, targetDeviceName: [DN], needConfirm: true });
    await waitTask(s.iot, jobId, DN, 'CONFIRM', 5000);
    await new Promise((r) => setTimeout(r, 300));
    expect(version()).toBe('3.0.2');
    const unfinished = await s.iot.listOTAUnfinishedTaskByDevice(new $Iot.ListOTAUnfinishedTaskByDeviceRequest({ productKey: DEVICE.productKey, deviceName: DN }));
    const taskId = unfinished.body?.data?.simpleOTATaskInfo?.[0]?.taskId;
    expect(taskId).toBeDefined();
    await s.iot.confirmOTATask(new $Iot.ConfirmOTATaskRequest({ taskId: [taskId!] }));
    await waitTask(s.iot, jobId, DN, 'SUCCEEDED', 15_000);
    expect(version()).toBe('3.1.0');
  });

  it('after a restart resumes from the stored offset; an expired URL is refreshed by pull', async () => {
    const file = bytes(500_000, 10);
    const fw = await createPackage(s.iot, s.sim, { files: [file], destVersion: '3.2.0' });
    await stop();
    await start({ retryDelayMs: 60_000 });
    s.sim.ota.setFault(fw, { dropAfterBytes: 200_000 });
    const jobId = await staticJob(s.iot, { firmwareId: fw, targetDeviceName: [DN] });
    // The drop leaves the agent waiting out its long retry delay with 200 000 bytes staged.
    await waitFor(() => device!.log.lines().some((l) => l.msg === 'ota download interrupted; resuming'), 8000, 'the dropped download');
    await stop();
    s.sim.ota.expireUrls(fw);
    await start();
    await waitTask(s.iot, jobId, DN, 'SUCCEEDED', 15_000);
    const d = s.sim.ota.downloads(fw).filter((r) => r.channel === 'https');
    const resumed = d.filter((r) => r.status === 206);
    expect(resumed.length).toBe(1);
    expect(resumed[0]!.start).toBeGreaterThan(0);
    expect(resumed[0]!.start).toBeLessThanOrEqual(200_000);
    // The simulator's download log keeps served bodies only; the refused URL is in the agent's log.
    expect(device!.log.lines().some((l) => l.msg === 'ota URL refused; asking the platform for a fresh one' && l.status === 403)).toBe(true);
    expect(readFileSync(join(dir, 'installed.bin')).equals(file)).toBe(true);
  });

  it('drops a job whose task was cancelled, installing nothing', async () => {
    const fw = await createPackage(s.iot, s.sim, { files: [bytes(300_000, 12)], destVersion: '3.3.0' });
    await stop();
    await start({ retryDelayMs: 60_000 });
    s.sim.ota.setFault(fw, { dropAfterBytes: 100_000 });
    const jobId = await staticJob(s.iot, { firmwareId: fw, targetDeviceName: [DN] });
    await waitFor(() => device!.log.lines().some((l) => l.msg === 'ota download interrupted; resuming'), 8000, 'the dropped download');
    await stop();
    await s.iot.cancelOTATaskByJob(new $Iot.CancelOTATaskByJobRequest({ jobId, cancelInProgressTask: true, cancelNotifiedTask: true, cancelQueuedTask: true }));
    expect((await taskOf(s.iot, jobId, DN))?.taskStatus).toBe('CANCELED');
    const d = await start();
    await waitFor(() => d.log.lines().some((l) => l.msg === 'ota job cancelled'), 8000, 'the cancelled job');
    await new Promise((r) => setTimeout(r, 300));
    expect(version()).toBe('3.2.0');
    expect(existsSync(join(dir, 'data', 'ota', `${DEVICE.productKey}+${DN}`, 'default'))).toBe(false);
    expect((device!.agent as unknown as { channels: { ota: { status(): { job?: unknown }[] } } }).channels.ota.status()[0]!.job).toBeUndefined();
  });
});
