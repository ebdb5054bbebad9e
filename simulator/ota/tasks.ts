/**
 * Update jobs and their per-device tasks, and how a task's state follows the device (docs/protocol/ota-platform.md,
 * "Task states"): CONFIRM (waiting for ConfirmOTATask) or SCHEDULED (waiting for the job's ScheduleTime) →
 * QUEUED → NOTIFIED (notice pushed or pulled) → IN_PROGRESS (first progress) → SUCCEEDED (the device informed the
 * destination version) or FAILED (a negative step, or TimeoutInMinutes since the notice); CANCELED by
 * CancelOTATaskByJob. A failed task with retries left is queued again after RetryInterval minutes.
 */
import type { DeviceId } from '../mqtt/acl';

export const TASK_STATUSES = ['SCHEDULED', 'CONFIRM', 'QUEUED', 'NOTIFIED', 'IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'CANCELED'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
/** A task that still holds its device's module: only one per device and module at a time. */
export const UNFINISHED: ReadonlySet<TaskStatus> = new Set(['SCHEDULED', 'CONFIRM', 'QUEUED', 'NOTIFIED', 'IN_PROGRESS']);

export type JobStatus = 'PLANNED' | 'IN_PROGRESS' | 'COMPLETED' | 'CANCELED';

export interface OtaJob {
  jobId: string;
  firmwareId: string;
  productKey: string;
  selectionType: 'STATIC' | 'DYNAMIC';
  targetSelection: string;
  srcVersions: string[];
  targetDeviceNames?: string[];
  grayPercent?: string;
  needPush: boolean;
  needConfirm: boolean;
  timeoutInMinutes?: number;
  retryInterval?: number;
  retryCount?: number;
  downloadProtocol: 'HTTPS' | 'MQTT';
  overwriteMode: number;
  multiModuleMode?: boolean;
  maximumPerMinute?: number;
  dynamicMode?: number;
  scheduleTime?: number;
  scheduleFinishTime?: number;
  tags: { Key: string; Value: string }[];
  status: JobStatus;
  /** MQTT download: the `streamId` of the job's files (docs/protocol/ota-platform.md, "MQTT download"). */
  streamId: number;
  utcCreate: string;
  utcModified: string;
  utcStartTime?: string;
  utcEndTime?: string;
}

export interface OtaTask {
  taskId: string;
  jobId: string;
  firmwareId: string;
  productKey: string;
  deviceName: string;
  moduleName: string;
  srcVersion?: string;
  destVersion: string;
  status: TaskStatus;
  progress: number;
  desc: string;
  retriesLeft: number;
  utcCreate: string;
  utcModified: string;
}

export const deviceKey = (id: DeviceId) => `${id.productKey}/${id.deviceName}`;

/** Timers of one simulator's OTA service, all cancelled on stop. */
export class Timers {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  set(key: string, ms: number, fn: () => void): void {
    this.clear(key);
    const t = setTimeout(() => {
      this.timers.delete(key);
      fn();
    }, Math.max(0, ms));
    t.unref();
    this.timers.set(key, t);
  }

  has(key: string): boolean {
    return this.timers.has(key);
  }

  clear(key: string): void {
    const t = this.timers.get(key);
    if (t) clearTimeout(t);
    this.timers.delete(key);
  }

  clearAll(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
