/**
 * OTA jobs end to end on both brokers: the official SDK creates packages and jobs, a test device written here
 * (raw MQTT.js) informs, takes the notice or pulls, downloads over HTTPS (Range) or MQTT blocks, reports progress;
 * the task states follow it (the whole state machine), with source versions, NeedPush, NeedConfirm, cancel,
 * timeouts and retries, one task per device and module, and the injected faults.
 */
import * as $Iot from '@alicloud/iot20180120';
import type Iot from '@alicloud/iot20180120';
import { createHash } from 'node:crypto';
import { createIotClient } from '../sdk-client';
import { BROKER_MODES, grantedQos, messagesDuring, modeConfig, PK, sleep, startSim, testConfig } from './harness';
import { createPackage, httpGet, OtaTestDevice, staticJob, taskOf, waitTask } from './ota-harness';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));
/** One job "minute" in these tests. */
const MINUTE_MS = 300;

describe.each(BROKER_MODES)('OTA jobs on the %s broker', (mode) => {
  let s: Awaited<ReturnType<typeof startSim>>;
  let client: Iot;
  const devices: OtaTestDevice[] = [];
  const dev = async (n: number) => {
    const d = await OtaTestDevice.connect(s.mqttUrl, `gw-00${n}`);
    devices.push(d);
    return d;
  };

  beforeAll(async () => {
    s = await startSim(testConfig(modeConfig(mode), 9), { ota: { minuteMs: MINUTE_MS, onlinePushDelayMs: 200 } });
    client = createIotClient(s.httpUrl);
    await client.createOTAModule(new $Iot.CreateOTAModuleRequest({ productKey: PK, moduleName: 'mcu' }));
  });
  afterAll(async () => {
    await Promise.all(devices.map((d) => d.end()));
    await s.sim.stop();
  });

  it('runs a whole update: notice, Range download, progress, inform → SUCCEEDED', async () => {
    const d = await dev(1);
    await d.inform('1.0.0');
    const file = bytes(20_000, 1);
    const firmwareId = await createPackage(client, s.sim, { files: [file], destVersion: '2.0.0', udi: '{"ota_notice":"hi"}' });
    const notice = d.nextNotice();
    const jobId = await staticJob(client, { firmwareId, targetDeviceName: ['gw-001'], tag: [new $Iot.CreateOTAStaticUpgradeJobRequestTag({ key: 'batch', value: 'b1' })] });
    const n = await notice;
    expect(n).toMatchObject({ code: '1000', message: 'success', id: expect.any(Number) });
    expect(n.id).toBeGreaterThan(2 ** 32);
    expect(n.data).toEqual({
      size: file.length,
      version: '2.0.0',
      signMethod: 'SHA256',
      module: 'default',
      url: expect.stringMatching(/\/files\/ota.*\?Expires=\d+&Signature=[0-9a-f]+$/),
      md5: md5(file),
      sign: sha256(file),
      extData: { batch: 'b1', _package_udi: '{"ota_notice":"hi"}' },
    });
    expect(await waitTask(client, jobId, 'gw-001', 'NOTIFIED')).toMatchObject({ srcVersion: '1.0.0', destVersion: '2.0.0', progress: '0' });
    const first = await httpGet(n.data.url!, { range: 'bytes=0-9999' });
    const rest = await httpGet(n.data.url!, { range: 'bytes=10000-' });
    expect([first.status, rest.status]).toEqual([206, 206]);
    expect(sha256(Buffer.concat([first.body, rest.body]))).toBe(n.data.sign);
    await d.progress(0);
    expect(await waitTask(client, jobId, 'gw-001', 'IN_PROGRESS')).toMatchObject({ progress: '0' });
    await d.progress(100, 'flashed');
    await expect(waitTask(client, jobId, 'gw-001', 'SUCCEEDED', 300)).rejects.toThrow(/IN_PROGRESS/);
    await d.inform('2.0.0');
    expect(await waitTask(client, jobId, 'gw-001', 'SUCCEEDED')).toMatchObject({ progress: '100' });
    const job = await client.queryOTAJob(new $Iot.QueryOTAJobRequest({ jobId }));
    expect(job.body!.data).toMatchObject({ jobStatus: 'COMPLETED', selectionType: 'STATIC', targetSelection: 'SPECIFIC', needPush: true, needConfirm: false, downloadProtocol: 'HTTPS', destVersion: '2.0.0' });
    const versions = await client.listOTAModuleVersionsByDevice(new $Iot.ListOTAModuleVersionsByDeviceRequest({ productKey: PK, deviceName: 'gw-001' }));
    expect(versions.body!.data!.simpleOTAModuleInfo).toEqual([expect.objectContaining({ moduleName: 'default', moduleVersion: '2.0.0' })]);
    const byFw = await client.listOTAJobByFirmware(new $Iot.ListOTAJobByFirmwareRequest({ firmwareId }));
    expect(byFw.body).toMatchObject({ total: 1, data: { simpleOTAJobInfo: [{ jobId, jobStatus: 'COMPLETED' }] } });
    // At the destination version already: a second job makes no task for it.
    const again = await staticJob(client, { firmwareId, targetDeviceName: ['gw-001'] });
    expect(await taskOf(client, again, 'gw-001')).toBeUndefined();
  });

  it('answers a pull for a NeedPush=false multi-file job, and a negative step fails the task', async () => {
    const d = await dev(2);
    await d.inform('0.1', 'mcu');
    const files = [bytes(3000, 2), bytes(5000, 3)];
    const firmwareId = await createPackage(client, s.sim, { files, destVersion: '0.2', moduleName: 'mcu', signMethod: 'MD5' });
    const jobId = await staticJob(client, { firmwareId, targetDeviceName: ['gw-002'], needPush: false });
    expect(await messagesDuring(d.client, 300)).toEqual([]);
    expect((await taskOf(client, jobId, 'gw-002'))!.taskStatus).toBe('QUEUED');
    expect((await d.pull()).data).toEqual({});
    const reply = await d.pull('mcu');
    expect(reply).toMatchObject({ id: '42', code: 200 });
    expect(reply.data).toMatchObject({ version: '0.2', module: 'mcu', signMethod: 'Md5' });
    expect(reply.data.files).toEqual(files.map((f, i) => ({ fileName: `part${i}.bin`, fileSize: f.length, fileUrl: expect.stringContaining('/files/ota'), fileSign: md5(f) })));
    for (const [i, f] of reply.data.files!.entries()) expect((await httpGet(f.fileUrl!)).body.equals(files[i]!)).toBe(true);
    await waitTask(client, jobId, 'gw-002', 'NOTIFIED');
    await d.progress(-3, 'digest mismatch', 'mcu');
    expect(await waitTask(client, jobId, 'gw-002', 'FAILED')).toMatchObject({ taskDesc: 'digest mismatch' });
  });

  it('holds a NeedConfirm job in CONFIRM until ConfirmOTATask', async () => {
    const d = await dev(3);
    await d.inform('1.0');
    const firmwareId = await createPackage(client, s.sim, { files: [bytes(100, 4)], destVersion: '1.1' });
    const jobId = await staticJob(client, { firmwareId, targetDeviceName: ['gw-003'], needConfirm: true });
    expect(await messagesDuring(d.client, 300)).toEqual([]);
    expect((await d.pull()).data).toEqual({});
    const unfinished = await client.listOTAUnfinishedTaskByDevice(new $Iot.ListOTAUnfinishedTaskByDeviceRequest({ productKey: PK, deviceName: 'gw-003', taskStatus: 'CONFIRM' }));
    const tasks = unfinished.body!.data!.simpleOTATaskInfo!;
    expect(tasks).toEqual([expect.objectContaining({ jobId, taskStatus: 'CONFIRM', moduleName: 'default' })]);
    const notice = d.nextNotice();
    expect((await client.confirmOTATask(new $Iot.ConfirmOTATaskRequest({ taskId: [tasks[0]!.taskId!] }))).body!.success).toBe(true);
    expect((await notice).data.version).toBe('1.1');
    await waitTask(client, jobId, 'gw-003', 'NOTIFIED');
    const twice = await client.confirmOTATask(new $Iot.ConfirmOTATaskRequest({ taskId: [tasks[0]!.taskId!] }));
    expect(twice.body).toMatchObject({ success: false, code: 'iot.ota.TaskNotInConfirmStatus' });
    const unknown = await client.confirmOTATask(new $Iot.ConfirmOTATaskRequest({ taskId: ['nosuch'] }));
    expect(unknown.body).toMatchObject({ success: false, code: 'iot.ota.NotExistedTask' });
  });

  it('cancels the tasks in the states the flags name', async () => {
    const d = await dev(4);
    await d.inform('1.0');
    const firmwareId = await createPackage(client, s.sim, { files: [bytes(100, 5)], destVersion: '1.2' });
    const notice = d.nextNotice();
    const jobId = await staticJob(client, { firmwareId, targetDeviceName: ['gw-004'] });
    await notice;
    await d.progress(5);
    await waitTask(client, jobId, 'gw-004', 'IN_PROGRESS');
    await expect(client.cancelOTATaskByJob(new $Iot.CancelOTATaskByJobRequest({ jobId }))).rejects.toMatchObject({ code: 'InvalidParameter' });
    await client.cancelOTATaskByJob(new $Iot.CancelOTATaskByJobRequest({ jobId, cancelQueuedTask: true }));
    expect((await taskOf(client, jobId, 'gw-004'))!.taskStatus).toBe('IN_PROGRESS');
    await client.cancelOTATaskByJob(new $Iot.CancelOTATaskByJobRequest({ jobId, cancelInProgressTask: true }));
    await waitTask(client, jobId, 'gw-004', 'CANCELED');
    expect((await d.pull()).data).toEqual({});
    await d.inform('1.2');
    expect((await taskOf(client, jobId, 'gw-004'))!.taskStatus).toBe('CANCELED');
    expect((await client.queryOTAJob(new $Iot.QueryOTAJobRequest({ jobId }))).body!.data!.jobStatus).toBe('CANCELED');
  });

  it('fails a silent task at its timeout, retries it, and fails it for good', async () => {
    const d = await dev(5);
    await d.inform('1.0');
    const firmwareId = await createPackage(client, s.sim, { files: [bytes(100, 6)], destVersion: '1.3' });
    const first = d.nextNotice();
    const jobId = await staticJob(client, { firmwareId, targetDeviceName: ['gw-005'], timeoutInMinutes: 1, retryCount: 1, retryInterval: 0 });
    await first;
    const retried = d.nextNotice(5000);
    await retried;
    expect(await waitTask(client, jobId, 'gw-005', 'FAILED', 5000)).toMatchObject({ taskDesc: expect.stringContaining('timeout'), timeout: '1' });
    expect(await messagesDuring(d.client, 2 * MINUTE_MS)).toEqual([]);
    expect((await client.queryOTAJob(new $Iot.QueryOTAJobRequest({ jobId }))).body!.data).toMatchObject({ jobStatus: 'COMPLETED', retryCount: 1, timeoutInMinutes: 1 });
  });

  it('keeps one task per device and module: a second job fails it, or overwrites with OverwriteMode 1', async () => {
    const d = await dev(6);
    await d.inform('1.0');
    const a = await createPackage(client, s.sim, { files: [bytes(100, 7)], destVersion: '1.4' });
    const b = await createPackage(client, s.sim, { files: [bytes(100, 8)], destVersion: '1.5' });
    const jobA = await staticJob(client, { firmwareId: a, targetDeviceName: ['gw-006'], needPush: false });
    const jobB = await staticJob(client, { firmwareId: b, targetDeviceName: ['gw-006'], needPush: false });
    expect(await taskOf(client, jobB, 'gw-006')).toMatchObject({ taskStatus: 'FAILED', taskDesc: expect.stringContaining(jobA) });
    const jobC = await staticJob(client, { firmwareId: b, targetDeviceName: ['gw-006'], needPush: false, overwriteMode: 1 });
    expect((await taskOf(client, jobA, 'gw-006'))!.taskStatus).toBe('CANCELED');
    expect((await taskOf(client, jobC, 'gw-006'))!.taskStatus).toBe('QUEUED');
    expect((await d.pull()).data.version).toBe('1.5');
  });

  it('adds devices to a dynamic job when they report a source version, once per package', async () => {
    const d = await dev(7);
    await d.inform('0.9', 'mcu');
    const firmwareId = await createPackage(client, s.sim, { files: [bytes(100, 9)], destVersion: '1.0', moduleName: 'mcu' });
    const res = await client.createOTADynamicUpgradeJob(new $Iot.CreateOTADynamicUpgradeJobRequest({ productKey: PK, firmwareId, srcVersion: ['0.95'] }));
    const jobId = res.body!.data!.jobId!;
    expect(await taskOf(client, jobId, 'gw-007')).toBeUndefined();
    const notice = d.nextNotice();
    await d.inform('0.95', 'mcu');
    expect((await notice).data).toMatchObject({ version: '1.0', module: 'mcu' });
    expect(await waitTask(client, jobId, 'gw-007', 'NOTIFIED')).toMatchObject({ srcVersion: '0.95' });
    const second = await client.createOTADynamicUpgradeJob(new $Iot.CreateOTADynamicUpgradeJobRequest({ productKey: PK, firmwareId }));
    expect(second.body).toMatchObject({ success: false, code: 'iot.ota.DynamicJobAlreadyExists' });
    expect((await client.queryOTAJob(new $Iot.QueryOTAJobRequest({ jobId }))).body!.data).toMatchObject({ selectionType: 'DYNAMIC', dynamicMode: 1, srcVersions: { srcVersion: ['0.95'] } });
  });

  it('pushes to a device that comes online later, and serves MQTT blocks with their CRC', async () => {
    const file = bytes(12_345, 10);
    const firmwareId = await createPackage(client, s.sim, { files: [file], destVersion: '3.0' });
    const jobId = await staticJob(client, { firmwareId, targetDeviceName: ['gw-008'], downloadProtocol: 'MQTT' });
    expect((await taskOf(client, jobId, 'gw-008'))!.taskStatus).toBe('QUEUED');
    const d = await dev(8);
    const n = await d.nextNotice();
    expect(n.data).toMatchObject({ dProtocol: 'mqtt', streamId: expect.any(Number), streamFileId: 1, size: file.length, sign: sha256(file) });
    expect(n.data.url).toBeUndefined();
    const got = await d.downloadMqtt(n.data.streamId as number, 1, file.length);
    expect(got.equals(file)).toBe(true);
    expect(s.sim.ota.downloads(firmwareId).map((r) => [r.channel, r.start])).toEqual([0, 5120, 10240].map((o) => ['mqtt', o]));
    s.sim.ota.setFault(firmwareId, { corruptByteAt: 10 });
    const bad = await d.block(n.data.streamId as number, 1, 0, 100);
    expect([bad.data[10], bad.crcOk]).toEqual([file[10]! ^ 0xff, true]);
    s.sim.ota.setFault(firmwareId, undefined);
    const past = await d.block(n.data.streamId as number, 1, file.length, 100);
    expect(past.header).toMatchObject({ code: 460 });
    const other = await d.block(999, 1, 0, 100);
    expect(other.header).toMatchObject({ code: 400 });
  });

  it('refreshes an expired URL by pull, and a dropped download resumes with Range', async () => {
    const d = await dev(9);
    await d.inform('1.0');
    const file = bytes(50_000, 11);
    const firmwareId = await createPackage(client, s.sim, { files: [file], destVersion: '1.6' });
    const notice = d.nextNotice();
    await staticJob(client, { firmwareId, targetDeviceName: ['gw-009'] });
    const url = (await notice).data.url!;
    s.sim.ota.expireUrls(firmwareId);
    expect((await httpGet(url)).status).toBe(403);
    const fresh = (await d.pull()).data.url!;
    expect(fresh).not.toBe(url);
    s.sim.ota.setFault(firmwareId, { dropAfterBytes: 20_000 });
    const cut = await httpGet(fresh);
    expect(cut.aborted).toBe(true);
    const rest = await httpGet(fresh, { range: `bytes=${cut.body.length}-` });
    expect(rest.status).toBe(206);
    expect(Buffer.concat([cut.body, rest.body]).equals(file)).toBe(true);
    // What a resume test counts: the dropped response did not complete, the resumed one began at the cut.
    await sleep(50);
    const log = s.sim.ota.downloads(firmwareId);
    expect(log.slice(-2)).toEqual([
      expect.objectContaining({ channel: 'https', status: 200, start: 0, end: file.length - 1, complete: false }),
      expect.objectContaining({ channel: 'https', status: 206, start: cut.body.length, end: file.length - 1, complete: true }),
    ]);
  });

  it('lets a device use its own OTA topics only', async () => {
    const d = await dev(1);
    const own = await grantedQos(d.client, [`/ota/device/upgrade/${PK}/gw-001`]);
    expect(own).toEqual([0]);
    // The device publishes inform, progress and request; it subscribes to upgrade only (docs/protocol/topics.md, "OTA topics").
    const refused = await grantedQos(d.client, [`/ota/device/upgrade/${PK}/gw-002`, '/ota/device/upgrade/+/+', `/ota/device/other/${PK}/gw-001`, `/ota/device/inform/${PK}/gw-001`]);
    expect(refused.every((q) => q >= 128)).toBe(true);
  });
});
