/**
 * Jobs, tasks and module versions of one simulator (docs/protocol/ota-platform.md, "Jobs" and "Task states"). The
 * cloud actions create and steer jobs here; the device side (device-side.ts) reports what devices send and pushes
 * the notices this asks for.
 */
import type { Logger } from 'pino';
import { ApiErrors } from '../errors';
import type { DeviceId } from '../mqtt/acl';
import type { DeviceRecord } from '../registry';
import { type Firmware, newId, utcNow } from './catalog';
import { deviceKey, type OtaJob, type OtaTask, Timers, type TaskStatus, UNFINISHED } from './tasks';

export interface OtaJobsOptions {
  logger: Logger;
  now: () => number;
  /** How long a "minute" of TimeoutInMinutes and RetryInterval lasts (tests shorten it). */
  minuteMs: number;
  /** How long after a device connects its queued notices are pushed. */
  onlinePushDelayMs: number;
  firmware(firmwareId: string): Firmware | undefined;
  online(id: DeviceId): boolean;
  /** Sends the task's notice on `/ota/device/upgrade`; the task is NOTIFIED once it resolves. */
  push(task: OtaTask, job: OtaJob): Promise<void>;
}

/** Which unfinished states CancelOTATaskByJob's flags cancel. */
export interface CancelFlags {
  scheduled?: boolean;
  queued?: boolean;
  notified?: boolean;
  inProgress?: boolean;
  unconfirmed?: boolean;
}

const FLAG_OF: Record<string, keyof CancelFlags> = { SCHEDULED: 'scheduled', QUEUED: 'queued', NOTIFIED: 'notified', IN_PROGRESS: 'inProgress', CONFIRM: 'unconfirmed' };

export class OtaJobs {
  readonly jobs = new Map<string, OtaJob>();
  readonly tasks = new Map<string, OtaTask>();
  private readonly versions = new Map<string, Map<string, string>>();
  private readonly timers = new Timers();
  private nextStream = 1;

  constructor(private readonly opts: OtaJobsOptions) {}

  close(): void {
    this.timers.clearAll();
  }

  // ---- versions ---------------------------------------------------------------------------------------------

  versionsOf(id: DeviceId): Map<string, string> {
    return this.versions.get(deviceKey(id)) ?? new Map();
  }

  // ---- jobs -------------------------------------------------------------------------------------------------

  /** Stores a new job and makes a task for every candidate device it applies to; a scheduled job waits. */
  create(spec: Omit<OtaJob, 'jobId' | 'status' | 'streamId' | 'utcCreate' | 'utcModified'>, candidates: DeviceRecord[]): OtaJob {
    const at = utcNow(this.opts.now());
    const scheduled = spec.scheduleTime !== undefined && spec.scheduleTime > this.opts.now();
    const job: OtaJob = { ...spec, jobId: newId(), status: scheduled ? 'PLANNED' : 'IN_PROGRESS', streamId: this.nextStream++, utcCreate: at, utcModified: at, ...(scheduled ? {} : { utcStartTime: at }) };
    this.jobs.set(job.jobId, job);
    const initial: TaskStatus = scheduled ? 'SCHEDULED' : job.needConfirm ? 'CONFIRM' : 'QUEUED';
    if (job.selectionType === 'STATIC' || job.dynamicMode !== 2) {
      for (const d of candidates) this.addTask(job, d, initial);
    }
    if (scheduled) this.timers.set(`start/${job.jobId}`, spec.scheduleTime! - this.opts.now(), () => this.startScheduled(job));
    if (spec.scheduleFinishTime !== undefined) {
      this.timers.set(`finish/${job.jobId}`, spec.scheduleFinishTime - this.opts.now(), () => this.finishSchedule(job));
    }
    this.settleJob(job);
    for (const t of this.tasksOf(job)) void this.deliver(t);
    return job;
  }

  job(jobId: string): OtaJob {
    const j = this.jobs.get(jobId);
    if (!j) throw ApiErrors.otaJobNotFound(jobId);
    return j;
  }

  tasksOf(job: OtaJob): OtaTask[] {
    return [...this.tasks.values()].filter((t) => t.jobId === job.jobId);
  }

  /** The running dynamic job of a package, if any. */
  dynamicJobOf(firmwareId: string): OtaJob | undefined {
    return [...this.jobs.values()].find((j) => j.firmwareId === firmwareId && j.selectionType === 'DYNAMIC' && j.status === 'IN_PROGRESS');
  }

  /**
   * A task for one device, unless the device is already at the destination version or not at a source version
   * the job asks for. A device busy with another task on the module: that task is cancelled with OverwriteMode 1;
   * otherwise the new task fails at once (one task per device and module).
   */
  private addTask(job: OtaJob, d: DeviceRecord, status: TaskStatus): OtaTask | undefined {
    const fw = this.opts.firmware(job.firmwareId)!;
    const current = this.versionsOf(d).get(fw.moduleName);
    if (current === fw.destVersion) return undefined;
    const wanted = job.srcVersions.length > 0 ? job.srcVersions : fw.type === 1 && fw.srcVersion ? [fw.srcVersion] : [];
    if (wanted.length > 0 && (current === undefined || !wanted.includes(current))) return undefined;
    const at = utcNow(this.opts.now());
    const task: OtaTask = {
      taskId: newId(),
      jobId: job.jobId,
      firmwareId: fw.firmwareId,
      productKey: d.productKey,
      deviceName: d.deviceName,
      moduleName: fw.moduleName,
      ...(current !== undefined ? { srcVersion: current } : {}),
      destVersion: fw.destVersion,
      status,
      progress: 0,
      desc: '',
      retriesLeft: job.retryCount ?? 0,
      utcCreate: at,
      utcModified: at,
    };
    const busy = this.unfinished(d, fw.moduleName);
    if (busy && job.overwriteMode === 1) {
      this.setStatus(busy, 'CANCELED', `overwritten by job ${job.jobId}`);
    } else if (busy) {
      task.status = 'FAILED';
      task.desc = `the device already has an unfinished task for module ${fw.moduleName} (job ${busy.jobId})`;
    }
    this.tasks.set(task.taskId, task);
    return task;
  }

  private startScheduled(job: OtaJob): void {
    if (job.status !== 'PLANNED') return;
    job.status = 'IN_PROGRESS';
    job.utcStartTime = job.utcModified = utcNow(this.opts.now());
    for (const t of this.tasksOf(job)) {
      if (t.status === 'SCHEDULED') this.setStatus(t, job.needConfirm ? 'CONFIRM' : 'QUEUED');
      void this.deliver(t);
    }
  }

  /** ScheduleFinishTime: what has not finished by then is cancelled. */
  private finishSchedule(job: OtaJob): void {
    for (const t of this.tasksOf(job)) if (UNFINISHED.has(t.status)) this.setStatus(t, 'CANCELED', 'the job\'s ScheduleFinishTime passed');
    this.settleJob(job);
  }

  // ---- tasks ------------------------------------------------------------------------------------------------

  /** The device's unfinished task for a module. */
  unfinished(id: DeviceId, moduleName: string): OtaTask | undefined {
    for (const t of this.tasks.values()) {
      if (t.productKey === id.productKey && t.deviceName === id.deviceName && t.moduleName === moduleName && UNFINISHED.has(t.status)) return t;
    }
    return undefined;
  }

  /** The task a pull (`thing.ota.firmware.get`) answers: queued, notified or in progress; not one awaiting confirmation. */
  pullable(id: DeviceId, moduleName: string): OtaTask | undefined {
    const t = this.unfinished(id, moduleName);
    return t && (t.status === 'QUEUED' || t.status === 'NOTIFIED' || t.status === 'IN_PROGRESS') ? t : undefined;
  }

  /** Pushes a queued task's notice when its job pushes and the device is online. */
  async deliver(task: OtaTask): Promise<void> {
    const job = this.jobs.get(task.jobId)!;
    if (task.status !== 'QUEUED' || !job.needPush || !this.opts.online(task)) return;
    try {
      await this.opts.push(task, job);
      if (task.status === 'QUEUED') this.notified(task);
    } catch (e) {
      this.opts.logger.warn({ task: task.taskId, err: (e as Error).message }, 'OTA notice not sent');
    }
  }

  /** The device has the notice (pushed or pulled): the timeout starts. */
  notified(task: OtaTask): void {
    if (task.status === 'QUEUED') this.setStatus(task, 'NOTIFIED');
    const job = this.jobs.get(task.jobId)!;
    if (job.timeoutInMinutes !== undefined && !this.timers.has(`timeout/${task.taskId}`)) {
      this.timers.set(`timeout/${task.taskId}`, job.timeoutInMinutes * this.opts.minuteMs, () => {
        if (task.status === 'NOTIFIED' || task.status === 'IN_PROGRESS') this.fail(task, `timeout: not upgraded within ${job.timeoutInMinutes} minutes`);
      });
    }
  }

  /**
   * A device came online: its queued tasks are pushed (an offline device gets the notice when it is back), after
   * `onlinePushDelayMs` so that a device that subscribes after its CONNACK is subscribed by then; a version inform
   * (what devices send at boot, once subscribed) pushes at once.
   */
  onOnline(id: DeviceId, delayMs = this.opts.onlinePushDelayMs): void {
    const push = () => {
      for (const t of this.tasks.values()) if (t.productKey === id.productKey && t.deviceName === id.deviceName && t.status === 'QUEUED') void this.deliver(t);
    };
    if (delayMs <= 0) push();
    else this.timers.set(`online/${deviceKey(id)}`, delayMs, push);
  }

  /** `/ota/device/progress`: 0..100 moves the task to IN_PROGRESS, a negative step fails it. */
  onProgress(id: DeviceId, moduleName: string, step: number, desc: string): OtaTask | undefined {
    const t = this.unfinished(id, moduleName);
    if (!t || t.status === 'CONFIRM' || t.status === 'SCHEDULED') return undefined;
    if (step < 0) {
      this.fail(t, desc || `the device reported step ${step}`);
      return t;
    }
    if (t.status === 'QUEUED') this.notified(t);
    t.progress = Math.min(100, step);
    this.setStatus(t, 'IN_PROGRESS', desc);
    return t;
  }

  /** `/ota/device/inform`: records the version; the destination version succeeds the module's task. */
  onInform(id: DeviceId, device: DeviceRecord, moduleName: string, version: string): void {
    let v = this.versions.get(deviceKey(id));
    if (!v) this.versions.set(deviceKey(id), (v = new Map()));
    v.set(moduleName, version);
    const t = this.unfinished(id, moduleName);
    if (t && t.destVersion === version && t.status !== 'CONFIRM' && t.status !== 'SCHEDULED') {
      t.progress = 100;
      this.setStatus(t, 'SUCCEEDED');
    }
    this.joinDynamic(device, moduleName);
    this.onOnline(id, 0);
  }

  /** A device that now matches a running dynamic job of its module gets a task in it. */
  private joinDynamic(d: DeviceRecord, moduleName: string): void {
    for (const job of this.jobs.values()) {
      if (job.selectionType !== 'DYNAMIC' || job.status !== 'IN_PROGRESS' || job.productKey !== d.productKey) continue;
      if (this.opts.firmware(job.firmwareId)?.moduleName !== moduleName) continue;
      if (this.tasksOf(job).some((t) => t.deviceName === d.deviceName && t.status !== 'FAILED' && t.status !== 'CANCELED')) continue;
      if (this.unfinished(d, moduleName)) continue;
      this.addTask(job, d, job.needConfirm ? 'CONFIRM' : 'QUEUED');
    }
  }

  /** FAILED, then queued again after RetryInterval while retries are left. */
  fail(task: OtaTask, desc: string): void {
    this.setStatus(task, 'FAILED', desc);
    if (task.retriesLeft <= 0) return;
    task.retriesLeft--;
    const job = this.jobs.get(task.jobId)!;
    this.timers.set(`retry/${task.taskId}`, (job.retryInterval ?? 0) * this.opts.minuteMs, () => {
      if (task.status !== 'FAILED' || this.unfinished(task, task.moduleName)) return;
      task.progress = 0;
      this.setStatus(task, 'QUEUED', `retry ${(job.retryCount ?? 0) - task.retriesLeft} of ${job.retryCount}`);
      void this.deliver(task);
    });
  }

  /** ConfirmOTATask: every task must be waiting in CONFIRM; then all are queued and pushed. */
  confirm(taskIds: string[]): void {
    const tasks = taskIds.map((id) => {
      const t = this.tasks.get(id);
      if (!t) throw ApiErrors.otaTaskNotFound(id);
      if (t.status !== 'CONFIRM') throw ApiErrors.otaTaskNotConfirmable(id, t.status);
      return t;
    });
    for (const t of tasks) {
      this.setStatus(t, 'QUEUED');
      void this.deliver(t);
    }
  }

  /** CancelOTATaskByJob: cancels the job's tasks in the states the flags name; returns how many. */
  cancel(job: OtaJob, flags: CancelFlags): number {
    let n = 0;
    for (const t of this.tasksOf(job)) {
      const flag = FLAG_OF[t.status];
      if (!flag || !flags[flag]) continue;
      this.setStatus(t, 'CANCELED', 'cancelled by CancelOTATaskByJob');
      this.timers.clear(`timeout/${t.taskId}`);
      n++;
    }
    if (n > 0 && !this.tasksOf(job).some((t) => UNFINISHED.has(t.status)) && job.selectionType === 'STATIC') {
      job.status = 'CANCELED';
      job.utcEndTime = job.utcModified = utcNow(this.opts.now());
    }
    return n;
  }

  private setStatus(t: OtaTask, status: TaskStatus, desc?: string): void {
    const before = t.status;
    t.status = status;
    if (desc !== undefined) t.desc = desc;
    t.utcModified = utcNow(this.opts.now());
    if (!UNFINISHED.has(status)) this.timers.clear(`timeout/${t.taskId}`);
    if (before !== status) {
      this.opts.logger.info({ task: t.taskId, job: t.jobId, device: `${t.productKey}/${t.deviceName}`, module: t.moduleName, from: before, to: status, desc: t.desc }, 'OTA task state');
    }
    const job = this.jobs.get(t.jobId);
    if (job) this.settleJob(job);
  }

  /** A static job whose every task ended is COMPLETED (a cancelled one stays CANCELED). */
  private settleJob(job: OtaJob): void {
    if (job.selectionType !== 'STATIC' || job.status !== 'IN_PROGRESS') return;
    const tasks = this.tasksOf(job);
    const retrying = tasks.some((t) => t.status === 'FAILED' && t.retriesLeft > 0);
    if (tasks.some((t) => UNFINISHED.has(t.status)) || retrying) return;
    job.status = 'COMPLETED';
    job.utcEndTime = job.utcModified = utcNow(this.opts.now());
  }
}
