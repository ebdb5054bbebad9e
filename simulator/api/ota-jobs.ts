/**
 * CreateOTAStaticUpgradeJob, CreateOTADynamicUpgradeJob, QueryOTAJob and ListOTAJobByFirmware
 * (docs/protocol/ota-platform.md, "Jobs"). A static job targets the product's devices (ALL), a list of them
 * (SPECIFIC, ≤ 200) or a share (GRAY) at creation; a dynamic job also takes devices that later report a matching
 * version. Devices at the destination version, or not at a listed source version, get no task.
 */
import { ApiErrors } from '../errors';
import type { DeviceRecord } from '../registry';
import type { OtaJob } from '../ota/tasks';
import { findDevices, findProduct, optionalText, productKeySchema } from './common';
import { firmwareIdSchema, page, pagingSchema } from './ota-paging';
import type { ApiAction, ApiDeps } from './types';

const versionSchema = { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', expected: 'a version of 1..64 letters, digits, ., _ or -' };
/** A single-file package over MQTT is for files up to 16 MB (docs/protocol/ota-platform.md). */
const MQTT_MAX_FILE_BYTES = 16 * 1024 * 1024;

interface JobParams {
  FirmwareId: string;
  ProductKey: string;
  SrcVersion?: string[];
  RetryInterval?: number;
  RetryCount?: number;
  TimeoutInMinutes?: number;
  MaximumPerMinute?: number;
  NeedPush?: boolean;
  NeedConfirm?: boolean;
  OverwriteMode?: number;
  MultiModuleMode?: boolean;
  DownloadProtocol?: 'HTTPS' | 'MQTT';
  GroupId?: string;
  GroupType?: string;
  Tag?: { Key?: string; Value?: string }[];
}

const jobProperties = {
  FirmwareId: firmwareIdSchema,
  ProductKey: productKeySchema,
  SrcVersion: { type: 'array', minItems: 1, maxItems: 10, items: versionSchema, expected: 'a list SrcVersion.1 .. SrcVersion.N of 1..10 versions' },
  RetryInterval: { type: 'integer', enum: [0, 10, 30, 60, 1440], expected: '0, 10, 30, 60 or 1440 (minutes)' },
  RetryCount: { type: 'integer', enum: [1, 2, 5], expected: '1, 2 or 5' },
  TimeoutInMinutes: { type: 'integer', minimum: 1, maximum: 1440, expected: 'minutes, 1..1440' },
  MaximumPerMinute: { type: 'integer', minimum: 10, maximum: 10000, expected: 'devices per minute, 10..10000' },
  NeedPush: { type: 'boolean', expected: 'true or false' },
  NeedConfirm: { type: 'boolean', expected: 'true or false' },
  OverwriteMode: { type: 'integer', enum: [0, 1], expected: '0 (keep unfinished tasks) or 1 (overwrite them)' },
  MultiModuleMode: { type: 'boolean', expected: 'true or false' },
  DownloadProtocol: { type: 'string', enum: ['HTTPS', 'MQTT'], expected: 'HTTPS or MQTT' },
  GroupId: optionalText(64),
  GroupType: optionalText(16),
  Tag: {
    type: 'array',
    maxItems: 10,
    expected: 'a list Tag.1 .. Tag.N of at most 10 {Key, Value}',
    items: { type: 'object', required: ['Key', 'Value'], expected: 'an object {Key, Value}', properties: { Key: optionalText(30), Value: optionalText(1024) } },
  },
  IotInstanceId: optionalText(128),
};

/** The checks both kinds of job share; returns the job's settings. */
function jobSpec(p: JobParams, deps: ApiDeps, selectionType: 'STATIC' | 'DYNAMIC', targetSelection: string) {
  findProduct(deps.registry, p.ProductKey);
  const fw = deps.ota.catalog.firmware.get(p.FirmwareId);
  if (!fw) throw ApiErrors.otaFirmwareNotFound(p.FirmwareId);
  if (fw.productKey !== undefined && fw.productKey !== p.ProductKey) throw ApiErrors.invalidParameter('ProductKey', `the package's product ${fw.productKey}`, p.ProductKey);
  if (p.RetryInterval !== undefined && p.RetryCount === undefined) throw ApiErrors.missingParameter('RetryCount');
  const protocol = p.DownloadProtocol ?? 'HTTPS';
  const big = fw.files.find((f) => f.size > MQTT_MAX_FILE_BYTES);
  if (protocol === 'MQTT' && big) throw ApiErrors.invalidParameter('DownloadProtocol', `HTTPS for a file over 16 MB (${big.name}: ${big.size} bytes)`, protocol);
  if (p.GroupId !== undefined || p.GroupType !== undefined) throw ApiErrors.invalidParameter('GroupId', 'no device group (the simulator has none)', p.GroupId ?? p.GroupType);
  return {
    firmwareId: fw.firmwareId,
    productKey: p.ProductKey,
    selectionType,
    targetSelection,
    srcVersions: p.SrcVersion ?? [],
    needPush: p.NeedPush ?? true,
    needConfirm: p.NeedConfirm ?? false,
    downloadProtocol: protocol,
    overwriteMode: p.OverwriteMode ?? 0,
    tags: (p.Tag ?? []).map((t) => ({ Key: t.Key!, Value: t.Value! })),
    ...(p.TimeoutInMinutes !== undefined ? { timeoutInMinutes: p.TimeoutInMinutes } : {}),
    ...(p.RetryCount !== undefined ? { retryCount: p.RetryCount, retryInterval: p.RetryInterval ?? 0 } : {}),
    ...(p.MultiModuleMode !== undefined ? { multiModuleMode: p.MultiModuleMode } : {}),
    ...(p.MaximumPerMinute !== undefined ? { maximumPerMinute: p.MaximumPerMinute } : {}),
  };
}

function productDevices(deps: ApiDeps, productKey: string): DeviceRecord[] {
  return [...deps.registry.allDevices()].filter((d) => d.productKey === productKey);
}

interface StaticParams extends JobParams {
  TargetSelection: 'ALL' | 'SPECIFIC' | 'GRAY' | 'GROUP';
  TargetDeviceName?: string[];
  DnListFileUrl?: string;
  GrayPercent?: string;
  ScheduleTime?: number;
  ScheduleFinishTime?: number;
}

export const createOTAStaticUpgradeJob: ApiAction<StaticParams> = {
  name: 'CreateOTAStaticUpgradeJob',
  lists: ['SrcVersion', 'TargetDeviceName', 'Tag'],
  schema: {
    type: 'object',
    required: ['FirmwareId', 'ProductKey', 'TargetSelection'],
    properties: {
      ...jobProperties,
      TargetSelection: { type: 'string', enum: ['ALL', 'SPECIFIC', 'GRAY', 'GROUP'], expected: 'ALL, SPECIFIC, GRAY or GROUP' },
      TargetDeviceName: { type: 'array', minItems: 1, maxItems: 200, items: { type: 'string', minLength: 1, maxLength: 64, expected: 'a device name' }, expected: 'a list TargetDeviceName.1 .. TargetDeviceName.N of 1..200 device names' },
      DnListFileUrl: optionalText(2048),
      GrayPercent: { type: 'string', pattern: '^(?:100(?:\\.0{1,3})?|[0-9]{1,2}(?:\\.[0-9]{1,3})?)$', expected: 'a percentage 0..100 with up to 3 decimals' },
      ScheduleTime: { type: 'integer', minimum: 0, expected: 'epoch milliseconds' },
      ScheduleFinishTime: { type: 'integer', minimum: 0, expected: 'epoch milliseconds' },
    },
  },
  async handle(p, deps) {
    const spec = jobSpec(p, deps, 'STATIC', p.TargetSelection);
    let candidates: DeviceRecord[];
    if (p.TargetSelection === 'GROUP') throw ApiErrors.invalidParameter('TargetSelection', 'ALL, SPECIFIC or GRAY (the simulator has no device groups)', p.TargetSelection);
    if (p.TargetSelection === 'SPECIFIC') {
      if (p.DnListFileUrl !== undefined) throw ApiErrors.invalidParameter('DnListFileUrl', 'TargetDeviceName.N instead (the simulator reads no device list files)', p.DnListFileUrl);
      if (!p.TargetDeviceName) throw ApiErrors.missingParameter('TargetDeviceName.1');
      candidates = findDevices(deps.registry, p.ProductKey, [...new Set(p.TargetDeviceName)]);
    } else if (p.TargetSelection === 'GRAY') {
      if (p.GrayPercent === undefined) throw ApiErrors.missingParameter('GrayPercent');
      const all = productDevices(deps, p.ProductKey);
      candidates = all.slice(0, Math.ceil((all.length * Number(p.GrayPercent)) / 100));
    } else {
      candidates = productDevices(deps, p.ProductKey);
    }
    const now = deps.ota.now();
    if (p.ScheduleTime !== undefined && p.ScheduleTime <= now) throw ApiErrors.invalidParameter('ScheduleTime', 'a time in the future', p.ScheduleTime);
    if (p.ScheduleFinishTime !== undefined && p.ScheduleFinishTime <= (p.ScheduleTime ?? now)) {
      throw ApiErrors.invalidParameter('ScheduleFinishTime', 'a time after ScheduleTime (or now)', p.ScheduleFinishTime);
    }
    const job = deps.ota.jobs.create(
      {
        ...spec,
        ...(p.TargetDeviceName ? { targetDeviceNames: p.TargetDeviceName } : {}),
        ...(p.GrayPercent !== undefined ? { grayPercent: p.GrayPercent } : {}),
        ...(p.ScheduleTime !== undefined ? { scheduleTime: p.ScheduleTime } : {}),
        ...(p.ScheduleFinishTime !== undefined ? { scheduleFinishTime: p.ScheduleFinishTime } : {}),
      },
      candidates,
    );
    return { Data: { JobId: job.jobId, UtcCreate: job.utcCreate } };
  },
};

export const createOTADynamicUpgradeJob: ApiAction<JobParams & { DynamicMode?: number }> = {
  name: 'CreateOTADynamicUpgradeJob',
  lists: ['SrcVersion', 'Tag'],
  schema: {
    type: 'object',
    required: ['FirmwareId', 'ProductKey'],
    properties: { ...jobProperties, DynamicMode: { type: 'integer', enum: [1, 2], expected: '1 (devices now and later) or 2 (only devices that report later)' } },
  },
  async handle(p, deps) {
    const spec = jobSpec(p, deps, 'DYNAMIC', 'ALL');
    const running = deps.ota.jobs.dynamicJobOf(p.FirmwareId);
    if (running) throw ApiErrors.otaDynamicJobExists(p.FirmwareId, running.jobId);
    const job = deps.ota.jobs.create({ ...spec, dynamicMode: p.DynamicMode ?? 1 }, productDevices(deps, p.ProductKey));
    return { Data: { JobId: job.jobId, UtcCreate: job.utcCreate } };
  },
};

const tagsOf = (job: OtaJob) => ({ OtaTagDTO: job.tags.map((t) => ({ Key: t.Key, Value: t.Value })) });
const jobTimes = (job: OtaJob) => ({
  UtcCreate: job.utcCreate,
  UtcModified: job.utcModified,
  ...(job.utcStartTime ? { UtcStartTime: job.utcStartTime } : {}),
  ...(job.utcEndTime ? { UtcEndTime: job.utcEndTime } : {}),
});

export const queryOTAJob: ApiAction<{ JobId: string }> = {
  name: 'QueryOTAJob',
  schema: { type: 'object', required: ['JobId'], properties: { JobId: { type: 'string', minLength: 1, maxLength: 64, expected: 'a JobId' }, IotInstanceId: optionalText(128) } },
  async handle(p, deps) {
    const job = deps.ota.jobs.job(p.JobId);
    const fw = deps.ota.catalog.firmware.get(job.firmwareId)!;
    return {
      Data: {
        JobId: job.jobId,
        JobStatus: job.status,
        JobType: 'UPGRADE_FIRMWARE',
        FirmwareId: job.firmwareId,
        ProductKey: job.productKey,
        Name: fw.name,
        DestVersion: fw.destVersion,
        SrcVersions: { SrcVersion: job.srcVersions },
        TargetSelection: job.targetSelection,
        SelectionType: job.selectionType,
        ...(job.grayPercent !== undefined ? { GrayPercent: job.grayPercent } : {}),
        Tags: tagsOf(job),
        DownloadProtocol: job.downloadProtocol,
        ...(job.dynamicMode !== undefined ? { DynamicMode: job.dynamicMode } : {}),
        ...(job.maximumPerMinute !== undefined ? { MaximumPerMinute: job.maximumPerMinute } : {}),
        ...(job.multiModuleMode !== undefined ? { MultiModuleMode: job.multiModuleMode } : {}),
        NeedConfirm: job.needConfirm,
        NeedPush: job.needPush,
        OverwriteMode: job.overwriteMode,
        ...(job.retryCount !== undefined ? { RetryCount: job.retryCount, RetryInterval: job.retryInterval } : {}),
        ...(job.timeoutInMinutes !== undefined ? { TimeoutInMinutes: job.timeoutInMinutes } : {}),
        ...(job.scheduleTime !== undefined ? { UtcScheduleTime: new Date(job.scheduleTime).toISOString() } : {}),
        ...(job.scheduleFinishTime !== undefined ? { UtcScheduleFinishTime: new Date(job.scheduleFinishTime).toISOString() } : {}),
        ...jobTimes(job),
      },
    };
  },
};

export const listOTAJobByFirmware: ApiAction<{ FirmwareId: string; CurrentPage?: number; PageSize?: number }> = {
  name: 'ListOTAJobByFirmware',
  schema: { type: 'object', required: ['FirmwareId'], properties: { FirmwareId: firmwareIdSchema, ...pagingSchema, IotInstanceId: optionalText(128) } },
  async handle(p, deps) {
    if (!deps.ota.catalog.firmware.has(p.FirmwareId)) throw ApiErrors.otaFirmwareNotFound(p.FirmwareId);
    const jobs = [...deps.ota.jobs.jobs.values()].filter((j) => j.firmwareId === p.FirmwareId);
    const { paging, items } = page(jobs, p);
    const list = items.map((job) => ({
      JobId: job.jobId,
      FirmwareId: job.firmwareId,
      ProductKey: job.productKey,
      JobStatus: job.status,
      JobType: 'UPGRADE_FIRMWARE',
      SelectionType: job.selectionType,
      TargetSelection: job.targetSelection,
      Tags: tagsOf(job),
      ...jobTimes(job),
    }));
    return { ...paging, Data: { SimpleOTAJobInfo: list } };
  },
};
