/**
 * The OTA job and task actions' parameter checks and error codes through the official SDK, the scheduled job
 * (SCHEDULED → QUEUED at ScheduleTime, cancelled at ScheduleFinishTime), GRAY targets, paging, the legacy pull on
 * `/ota/device/request` and the documented "MD5" spelling.
 */
import * as $Iot from '@alicloud/iot20180120';
import type Iot from '@alicloud/iot20180120';
import { createIotClient } from '../sdk-client';
import { PK, sleep, startSim, testConfig } from './harness';
import { createPackage, OtaTestDevice, taskOf, waitTask } from './ota-harness';

let s: Awaited<ReturnType<typeof startSim>>;
let client: Iot;
let firmwareId: string;
const devices: OtaTestDevice[] = [];

beforeAll(async () => {
  s = await startSim(testConfig({}, 6), { ota: { minuteMs: 200, onlinePushDelayMs: 100 } });
  client = createIotClient(s.httpUrl);
  firmwareId = await createPackage(client, s.sim, { files: [Buffer.from('firmware bytes')], destVersion: '5.0', signMethod: 'MD5' });
});
afterAll(async () => {
  await Promise.all(devices.map((d) => d.end()));
  await s.sim.stop();
});

const job = (p: Partial<$Iot.CreateOTAStaticUpgradeJobRequest>) => client.createOTAStaticUpgradeJob(new $Iot.CreateOTAStaticUpgradeJobRequest({ productKey: PK, firmwareId, targetSelection: 'SPECIFIC', targetDeviceName: ['gw-001'], ...p }));

describe('job parameters', () => {
  it.each([
    [{ targetSelection: 'SOME' }, 'InvalidParameter', 'TargetSelection'],
    [{ targetSelection: 'GROUP' }, 'InvalidParameter', 'TargetSelection'],
    [{ targetDeviceName: undefined }, 'MissingParameter', 'TargetDeviceName.1'],
    [{ dnListFileUrl: 'http://x/list.csv' }, 'InvalidParameter', 'DnListFileUrl'],
    [{ timeoutInMinutes: 1441 }, 'InvalidParameter', 'TimeoutInMinutes'],
    [{ retryInterval: 5, retryCount: 1 }, 'InvalidParameter', 'RetryInterval'],
    [{ retryInterval: 10 }, 'MissingParameter', 'RetryCount'],
    [{ retryCount: 3 }, 'InvalidParameter', 'RetryCount'],
    [{ downloadProtocol: 'FTP' }, 'InvalidParameter', 'DownloadProtocol'],
    [{ overwriteMode: 2 }, 'InvalidParameter', 'OverwriteMode'],
    [{ targetSelection: 'GRAY', targetDeviceName: undefined }, 'MissingParameter', 'GrayPercent'],
    [{ targetSelection: 'GRAY', targetDeviceName: undefined, grayPercent: '100.5' }, 'InvalidParameter', 'GrayPercent'],
    [{ scheduleTime: 1000 }, 'InvalidParameter', 'ScheduleTime'],
    [{ maximumPerMinute: 5 }, 'InvalidParameter', 'MaximumPerMinute'],
    [{ srcVersion: ['bad version'] }, 'InvalidParameter', 'SrcVersion.1'],
    [{ targetDeviceName: ['gw-001', ''] }, 'InvalidParameter', 'TargetDeviceName.2'],
  ])('refuses %j with %s naming %s', async (p, code, name) => {
    await expect(job(p as Partial<$Iot.CreateOTAStaticUpgradeJobRequest>)).rejects.toMatchObject({ code, message: expect.stringContaining(name) });
  });

  it('answers unknown packages, products, devices and jobs with their business codes', async () => {
    expect((await job({ firmwareId: 'nosuch' })).body).toMatchObject({ success: false, code: 'iot.ota.NotExistedFirmware' });
    expect((await job({ productKey: 'a1Nope' })).body).toMatchObject({ success: false, code: 'iot.prod.NotExistedProduct' });
    expect((await job({ targetDeviceName: ['nobody1'] })).body).toMatchObject({ success: false, code: 'iot.device.NotExistedDevice' });
    const q = await client.queryOTAJob(new $Iot.QueryOTAJobRequest({ jobId: 'nosuch' }));
    expect(q.body).toMatchObject({ success: false, code: 'iot.ota.NotExistedJob' });
    const l = await client.listOTATaskByJob(new $Iot.ListOTATaskByJobRequest({ jobId: 'nosuch' }));
    expect(l.body).toMatchObject({ success: false, code: 'iot.ota.NotExistedJob' });
    await expect(client.listOTATaskByJob(new $Iot.ListOTATaskByJobRequest({ jobId: 'x', pageSize: 101 }))).rejects.toMatchObject({ code: 'InvalidParameter', message: expect.stringContaining('PageSize') });
    await expect(client.listOTATaskByJob(new $Iot.ListOTATaskByJobRequest({ jobId: 'x', taskStatus: 'DONE' }))).rejects.toMatchObject({ message: expect.stringContaining('TaskStatus') });
    const byDevice = await client.listOTAUnfinishedTaskByDevice(new $Iot.ListOTAUnfinishedTaskByDeviceRequest({ productKey: PK, deviceName: 'nobody1' }));
    expect(byDevice.body).toMatchObject({ success: false, code: 'iot.device.NotExistedDevice' });
    const other = await client.listOTAJobByFirmware(new $Iot.ListOTAJobByFirmwareRequest({ firmwareId: 'nosuch' }));
    expect(other.body).toMatchObject({ success: false, code: 'iot.ota.NotExistedFirmware' });
  });
});

describe('targets, schedule and paging', () => {
  it('GRAY takes its share of the product, and the task list pages', async () => {
    const res = await job({ targetSelection: 'GRAY', targetDeviceName: undefined, grayPercent: '50', needPush: false });
    const jobId = res.body!.data!.jobId!;
    const page1 = await client.listOTATaskByJob(new $Iot.ListOTATaskByJobRequest({ jobId, pageSize: 2, currentPage: 1 }));
    expect(page1.body).toMatchObject({ total: 3, pageCount: 2, pageSize: 2, currentPage: 1 });
    expect(page1.body!.data!.simpleOTATaskInfo).toHaveLength(2);
    const page2 = await client.listOTATaskByJob(new $Iot.ListOTATaskByJobRequest({ jobId, pageSize: 2, currentPage: 2 }));
    expect(page2.body!.data!.simpleOTATaskInfo).toHaveLength(1);
    const queued = await client.listOTATaskByJob(new $Iot.ListOTATaskByJobRequest({ jobId, taskStatus: 'QUEUED' }));
    expect(queued.body!.total).toBe(3);
    await client.cancelOTATaskByJob(new $Iot.CancelOTATaskByJobRequest({ jobId, cancelQueuedTask: true }));
    expect((await client.listOTATaskByJob(new $Iot.ListOTATaskByJobRequest({ jobId, taskStatus: 'CANCELED' }))).body!.total).toBe(3);
  });

  it('holds a scheduled job until ScheduleTime and cancels what is left at ScheduleFinishTime', async () => {
    const d = await OtaTestDevice.connect(s.mqttUrl, 'gw-005');
    devices.push(d);
    await d.inform('4.0');
    const start = Date.now() + 600;
    const res = await job({ targetDeviceName: ['gw-005'], scheduleTime: start, scheduleFinishTime: start + 800 });
    const jobId = res.body!.data!.jobId!;
    expect((await taskOf(client, jobId, 'gw-005'))!.taskStatus).toBe('SCHEDULED');
    expect((await client.queryOTAJob(new $Iot.QueryOTAJobRequest({ jobId }))).body!.data).toMatchObject({ jobStatus: 'PLANNED', utcScheduleTime: new Date(start).toISOString() });
    const notice = await d.nextNotice(3000);
    expect(Date.now()).toBeGreaterThanOrEqual(start - 50);
    expect(notice.data.version).toBe('5.0');
    await waitTask(client, jobId, 'gw-005', 'NOTIFIED');
    expect(await waitTask(client, jobId, 'gw-005', 'CANCELED', 3000)).toMatchObject({ taskDesc: expect.stringContaining('ScheduleFinishTime') });
  });
});

describe('device side details', () => {
  it('answers the legacy /ota/device/request with a notice, spelt "MD5" when asked', async () => {
    const d = await OtaTestDevice.connect(s.mqttUrl, 'gw-006');
    devices.push(d);
    await d.inform('4.0');
    const res = await job({ targetDeviceName: ['gw-006'], needPush: false });
    const jobId = res.body!.data!.jobId!;
    s.sim.ota.spelling = 'doc';
    try {
      const notice = d.nextNotice();
      await d.client.publishAsync(`/ota/device/request/${PK}/gw-006`, JSON.stringify({ id: 3, params: { version: '4.0' } }));
      expect((await notice).data).toMatchObject({ signMethod: 'MD5', version: '5.0' });
    } finally {
      s.sim.ota.spelling = 'sdk';
    }
    await waitTask(client, jobId, 'gw-006', 'NOTIFIED');
    expect((await d.pull()).data.signMethod).toBe('Md5');
    // Garbage on the OTA topics is ignored: the task stays where it was.
    await d.client.publishAsync(`/ota/device/progress/${PK}/gw-006`, 'not json');
    await d.progress('abc');
    await sleep(100);
    expect((await taskOf(client, jobId, 'gw-006'))!.taskStatus).toBe('NOTIFIED');
  });
});
