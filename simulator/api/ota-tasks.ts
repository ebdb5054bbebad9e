/**
 * ListOTATaskByJob, CancelOTATaskByJob, ListOTAUnfinishedTaskByDevice, ConfirmOTATask and
 * ListOTAModuleVersionsByDevice (docs/protocol/ota-platform.md, "Task states" and "Lists"): the tasks of a job
 * with their states as the platform names them, cancelling and confirming them, and the module versions devices
 * informed.
 */
import { ApiErrors } from '../errors';
import { TASK_STATUSES, UNFINISHED, type OtaTask } from '../ota/tasks';
import { deviceNameSchema, iotIdSchema, optionalText, productKeySchema, resolveDevice } from './common';
import { jobIdSchema, page, pagingSchema } from './ota-paging';
import type { ApiAction } from './types';

const instance = { IotInstanceId: optionalText(128) };
const device = { IotId: iotIdSchema, ProductKey: productKeySchema, DeviceName: deviceNameSchema };
const taskStatusSchema = { type: 'string', enum: [...TASK_STATUSES], expected: TASK_STATUSES.join(', ') };

const taskInfo = (t: OtaTask) => ({
  TaskId: t.taskId,
  JobId: t.jobId,
  FirmwareId: t.firmwareId,
  ProductKey: t.productKey,
  DeviceName: t.deviceName,
  ...(t.srcVersion !== undefined ? { SrcVersion: t.srcVersion } : {}),
  DestVersion: t.destVersion,
  TaskStatus: t.status,
  UtcCreate: t.utcCreate,
  UtcModified: t.utcModified,
});

export const listOTATaskByJob: ApiAction<{ JobId: string; CurrentPage?: number; PageSize?: number; TaskStatus?: string; DeviceNames?: string[] }> = {
  name: 'ListOTATaskByJob',
  lists: ['DeviceNames'],
  schema: {
    type: 'object',
    required: ['JobId'],
    properties: {
      JobId: jobIdSchema,
      ...pagingSchema,
      TaskStatus: taskStatusSchema,
      DeviceNames: { type: 'array', minItems: 1, maxItems: 100, items: deviceNameSchema, expected: 'a list DeviceNames.1 .. DeviceNames.N of 1..100 device names' },
      ...instance,
    },
  },
  async handle(p, deps) {
    const job = deps.ota.jobs.job(p.JobId);
    const names = p.DeviceNames ? new Set(p.DeviceNames) : undefined;
    const tasks = deps.ota.jobs.tasksOf(job).filter((t) => (p.TaskStatus === undefined || t.status === p.TaskStatus) && (!names || names.has(t.deviceName)));
    const { paging, items } = page(tasks, p);
    const timeout = job.timeoutInMinutes !== undefined ? { Timeout: String(job.timeoutInMinutes) } : {};
    const list = items.map((t) => ({ ...taskInfo(t), IotId: deps.registry.device(t.productKey, t.deviceName)?.iotId, Progress: String(t.progress), TaskDesc: t.desc, ...timeout }));
    return { ...paging, Data: { SimpleOTATaskInfo: list } };
  },
};

interface CancelParams {
  JobId: string;
  CancelScheduledTask?: boolean;
  CancelQueuedTask?: boolean;
  CancelNotifiedTask?: boolean;
  CancelInProgressTask?: boolean;
  CancelUnconfirmedTask?: boolean;
}

const flag = { type: 'boolean', expected: 'true or false' };

export const cancelOTATaskByJob: ApiAction<CancelParams> = {
  name: 'CancelOTATaskByJob',
  schema: {
    type: 'object',
    required: ['JobId'],
    properties: { JobId: jobIdSchema, CancelScheduledTask: flag, CancelQueuedTask: flag, CancelNotifiedTask: flag, CancelInProgressTask: flag, CancelUnconfirmedTask: flag, ...instance },
  },
  async handle(p, deps) {
    const job = deps.ota.jobs.job(p.JobId);
    const flags = { scheduled: p.CancelScheduledTask, queued: p.CancelQueuedTask, notified: p.CancelNotifiedTask, inProgress: p.CancelInProgressTask, unconfirmed: p.CancelUnconfirmedTask };
    if (!Object.values(flags).some(Boolean)) {
      throw ApiErrors.invalidParameter('CancelQueuedTask', 'at least one of CancelScheduledTask, CancelQueuedTask, CancelNotifiedTask, CancelInProgressTask, CancelUnconfirmedTask true', 'none');
    }
    deps.ota.jobs.cancel(job, flags);
    return {};
  },
};

export const listOTAUnfinishedTaskByDevice: ApiAction<{ IotId?: string; ProductKey?: string; DeviceName?: string; ModuleName?: string; TaskStatus?: string }> = {
  name: 'ListOTAUnfinishedTaskByDevice',
  schema: {
    type: 'object',
    properties: { ...device, ModuleName: { type: 'string', minLength: 1, maxLength: 64, expected: 'a module name' }, TaskStatus: taskStatusSchema, ...instance },
  },
  async handle(p, deps) {
    const d = resolveDevice(deps.registry, p);
    const tasks = [...deps.ota.jobs.tasks.values()].filter(
      (t) => t.productKey === d.productKey && t.deviceName === d.deviceName && UNFINISHED.has(t.status) && (p.ModuleName === undefined || t.moduleName === p.ModuleName) && (p.TaskStatus === undefined || t.status === p.TaskStatus),
    );
    return { Data: { SimpleOTATaskInfo: tasks.map((t) => ({ ...taskInfo(t), IotId: d.iotId, ModuleName: t.moduleName })) } };
  },
};

export const confirmOTATask: ApiAction<{ TaskId: string[] }> = {
  name: 'ConfirmOTATask',
  lists: ['TaskId'],
  schema: {
    type: 'object',
    required: ['TaskId'],
    properties: { TaskId: { type: 'array', minItems: 1, maxItems: 200, items: { type: 'string', minLength: 1, maxLength: 64, expected: 'a TaskId' }, expected: 'a list TaskId.1 .. TaskId.N of 1..200 task ids' }, ...instance },
  },
  async handle(p, deps) {
    deps.ota.jobs.confirm(p.TaskId);
    return {};
  },
};

export const listOTAModuleVersionsByDevice: ApiAction<{ IotId?: string; ProductKey?: string; DeviceName?: string; CurrentPage?: number; PageSize?: number }> = {
  name: 'ListOTAModuleVersionsByDevice',
  schema: { type: 'object', properties: { ...device, ...pagingSchema, ...instance } },
  async handle(p, deps) {
    const d = resolveDevice(deps.registry, p);
    const all = [...deps.ota.jobs.versionsOf(d)].map(([moduleName, version]) => ({ ProductKey: d.productKey, DeviceName: d.deviceName, IotId: d.iotId, ModuleName: moduleName, ModuleVersion: version }));
    const { paging, items } = page(all, p);
    return { ...paging, Data: { SimpleOTAModuleInfo: items } };
  },
};
