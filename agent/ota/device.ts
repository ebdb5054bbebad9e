/**
 * OTA for one device, the gateway or a sub-device (docs/ota.md): informs each configured module's version once
 * per start and after every upgrade, takes jobs pushed on `/ota/device/upgrade` or pulled with
 * `thing.ota.firmware.get` (at start, and when a URL expired), runs at most one job per module, and carries a job
 * across restarts: a download resumes from its stored offset, an install is confirmed (or rolled back) after the
 * restart into the new version. Everything it learns about a job is in the {@link OtaStore} before it acts on it.
 */
import type { Logger } from 'pino';
import { AlinkMethods, type DeviceIdentity, type MessageIdGenerator } from '../../thing-model/wire';
import type { OtaModuleSection, OtaSection } from '../config/schema';
import type { HandlerRegistry } from '../plugins/registry';
import type { Router } from '../router';
import type { InboundMessage, Uplink } from '../transport';
import { OtaError, OtaErrors, describe } from './errors';
import { checkSpace, downloadAll, installJob, jobDir, jobInfo, removeStaged, stagedPaths, type JobContext } from './job';
import { OtaMessages, ProgressThrottle } from './messages';
import { MqttBlocks } from './mqtt-download';
import { DEFAULT_MODULE, jobKey, noticeData, noticeModule, parseNotice, type OtaNotice } from './notice';
import type { JobState, OtaStore, StoredJob } from './store';
import { readVersion } from './versions';
import { rollback } from './install';

/** Where OTA counts (the agent's metrics implement it). */
export interface OtaObserver {
  otaProgress(module: string, percent: number): void;
  otaFailure(module: string, code: string): void;
  otaBytes(n: number): void;
}

/** One module as /healthz shows it. */
export interface OtaModuleStatus {
  module: string;
  version?: string;
  job?: { version: string; state: JobState; percent: number; desc: string };
  lastFailure?: { code: string; message: string; at: string };
}

export interface OtaDeviceOptions {
  device: DeviceIdentity;
  settings: OtaSection;
  /** Absolute staging directory (`ota.stagingDir` under `dataDir`). */
  stagingDir: string;
  configDir: string;
  store: OtaStore;
  uplink: Uplink;
  router: Router;
  registry: HandlerRegistry;
  ids: MessageIdGenerator;
  logger: Logger;
  observer?: OtaObserver;
  /** The configuration key of the modules, named when a notice is for another one (default `ota.modules`). */
  modulesKey?: string;
}

interface Active {
  key: string;
  job: StoredJob;
  controller: AbortController;
  done: Promise<void>;
  percent: number;
  desc: string;
  /** A fresher notice of the same job (new URLs) that the download should use. */
  fresh?: OtaNotice;
}

export class OtaDevice {
  private readonly key: string;
  private readonly messages: OtaMessages;
  private readonly mqtt: MqttBlocks;
  private readonly active = new Map<string, Active>();
  /** Per module, the notice being taken (one after the other). */
  private readonly taking = new Map<string, Promise<void>>();
  private readonly versions = new Map<string, string>();
  private readonly failures = new Map<string, NonNullable<OtaModuleStatus['lastFailure']>>();
  /** Installed jobs waiting for this start to prove the new version healthy. */
  private readonly confirming: StoredJob[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly stopping = new AbortController();
  private firstConnect = true;

  constructor(private readonly o: OtaDeviceOptions) {
    this.key = `${o.device.productKey}/${o.device.deviceName}`;
    this.messages = new OtaMessages(o.device, o.uplink, o.ids, o.logger);
    const t = this.messages.topics;
    this.mqtt = new MqttBlocks({ uplink: o.uplink, topic: t.fileDownload, ids: o.ids, timeoutMs: 10_000, attempts: 3 });
    o.router.addRoute({ topic: t.upgrade, qos: 1, handle: (msg) => this.onPush(msg) });
    o.router.addReplyTopic(t.firmwareGetReply);
    o.router.addRoute({ topic: t.fileDownloadReply, qos: 0, handle: (msg) => this.mqtt.handle(msg.payload) });
  }

  /**
   * At start, before connecting: counts this start for every installed job (durably, before anything that could
   * crash), rolls back one that has used up `ota.healthyBoots`, and resumes the downloads a restart interrupted.
   */
  async boot(): Promise<void> {
    for (const job of this.o.store.jobs(this.key)) {
      if (!this.moduleOf(job.module)) {
        await this.o.store.deleteJob(this.key, job.module);
        continue;
      }
      if (job.state === 'downloading') {
        this.start(job);
        continue;
      }
      job.boots += 1;
      job.updatedAt = Date.now();
      await this.o.store.putJob(job);
      if (job.boots > this.o.settings.healthyBoots) {
        // Awaited: an inform of the failed version before the rollback would read as success to the platform.
        await this.rollBack(job);
        continue;
      }
      this.o.logger.info({ module: job.module, version: job.notice.version, boots: job.boots, state: job.state }, 'ota job: started into the new version, confirming');
      this.confirming.push(job);
    }
  }

  /** After every connect: the first one informs every module's version, pulls pending jobs and starts confirming. */
  async onConnected(): Promise<void> {
    if (!this.firstConnect) return;
    this.firstConnect = false;
    try {
      await this.afterFirstConnect();
    } catch (e) {
      if (!this.stopping.signal.aborted) this.o.logger.warn({ err: describe(e) }, 'ota start-up round failed');
    }
  }

  private async afterFirstConnect(): Promise<void> {
    const confirming = this.confirming.splice(0);
    for (const m of this.o.settings.modules) {
      // A version still to be confirmed is not informed yet: for the platform its inform is the task's success.
      if (confirming.some((j) => j.module === m.name)) continue;
      const v = await this.version(m);
      if (v !== undefined) await this.messages.inform(m.name, v);
    }
    for (const job of confirming) this.later(this.o.settings.confirmAfterMs, () => this.confirm(job));
    if (!this.o.settings.pullOnStart) return;
    for (const m of this.o.settings.modules) {
      if (confirming.some((j) => j.module === m.name)) continue;
      const got = await this.pull(m.name);
      this.alive();
      if (got === 'none') this.cancelIfDownloading(m.name);
      else if (got) await this.take(got);
    }
  }

  /** Throws once the agent is stopping: its stores close right after, nothing may be written then. */
  private alive(): void {
    if (this.stopping.signal.aborted) throw OtaErrors.cancelled('the agent is stopping');
  }

  /** Every configured module with its version and its job, for /healthz. */
  status(): OtaModuleStatus[] {
    const stored = new Map(this.o.store.jobs(this.key).map((j) => [j.module, j]));
    return this.o.settings.modules.map((m) => {
      const j = stored.get(m.name);
      const a = this.active.get(m.name) ?? (j ? { job: j, percent: 99, desc: 'waiting for the new version to be confirmed' } : undefined);
      const v = this.versions.get(m.name);
      const f = this.failures.get(m.name);
      return {
        module: m.name,
        ...(v !== undefined ? { version: v } : {}),
        ...(a ? { job: { version: a.job.notice.version, state: a.job.state, percent: Math.floor(a.percent), desc: a.desc } } : {}),
        ...(f ? { lastFailure: f } : {}),
      };
    });
  }

  async stop(): Promise<void> {
    this.stopping.abort(new Error('the agent is stopping'));
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.mqtt.stop();
    await Promise.all([...this.active.values()].map((a) => a.done));
  }

  private async onPush(msg: InboundMessage): Promise<void> {
    let data: Record<string, unknown>;
    try {
      data = noticeData(msg.payload);
    } catch (e) {
      return void this.o.logger.warn({ err: describe(e) }, 'ota upgrade notice dropped');
    }
    const module = noticeModule(data);
    try {
      if (!this.moduleOf(module)) throw OtaErrors.unhandled(module, this.o.modulesKey);
      await this.take(parseNotice(data));
    } catch (e) {
      if (!this.stopping.signal.aborted) await this.report(module, e);
    }
  }

  /** A notice, pushed or pulled, one per module at a time: a push and the start-up pull of one job, interleaved, would start it twice. */
  private take(notice: OtaNotice): Promise<void> {
    const next = (this.taking.get(notice.module) ?? Promise.resolve()).then(() => this.takeNow(notice));
    const settled = next.catch(() => undefined);
    this.taking.set(notice.module, settled);
    void settled.then(() => this.taking.get(notice.module) === settled && this.taking.delete(notice.module));
    return next;
  }

  /** A new job, the same job again (fresh URLs), or one that replaces a download. */
  private async takeNow(notice: OtaNotice): Promise<void> {
    const m = this.moduleOf(notice.module);
    if (!m) return this.report(notice.module, OtaErrors.unhandled(notice.module, this.o.modulesKey));
    const key = jobKey(notice);
    const cur = this.active.get(notice.module);
    if (cur?.key === key) {
      cur.fresh = notice;
      return;
    }
    if (cur?.job.state === 'downloading') cur.controller.abort(new Error(`replaced by a notice for version ${notice.version}`));
    // An install is not interrupted, but the notice waits for it: the platform pushes a job once, maybe before this one ends.
    else if (cur) this.o.logger.info({ module: notice.module, version: notice.version, busyWith: cur.job.notice.version }, 'ota notice waits: the module is installing another job');
    if (cur) await cur.done;
    this.alive();
    const stored = this.o.store.jobs(this.key).find((j) => j.module === notice.module);
    if (stored?.key === key && stored.state !== 'downloading') return;
    const current = await this.version(m);
    this.alive();
    if (current === notice.version) {
      // Already running it (the inform may have been lost): saying so again is what completes the task.
      await this.messages.inform(m.name, current);
      return;
    }
    if (stored && stored.key !== key) {
      removeStaged(this.dir(notice.module));
      await this.o.store.deleteJob(this.key, notice.module);
    }
    const job: StoredJob = { device: this.key, module: notice.module, key, notice, state: 'downloading', ...(current !== undefined ? { previousVersion: current } : {}), boots: 0, updatedAt: Date.now() };
    if (stored?.key !== key) await this.o.store.putJob(job);
    this.start(stored?.key === key ? { ...stored, notice } : job);
  }

  private start(job: StoredJob): void {
    const controller = new AbortController();
    const a: Active = { key: job.key, job, controller, done: Promise.resolve(), percent: 0, desc: 'queued' };
    this.active.set(job.module, a);
    a.done = this.run(a, AbortSignal.any([controller.signal, this.stopping.signal])).finally(() => {
      if (this.active.get(job.module) === a) this.active.delete(job.module);
    });
  }

  private async run(a: Active, signal: AbortSignal): Promise<void> {
    const job = a.job;
    const m = this.moduleOf(job.module)!;
    const throttle = new ProgressThrottle(this.o.settings.progressStepPercent);
    const ctx = this.context(m, a, throttle);
    this.logState(job, 'downloading', { size: job.notice.size, files: job.notice.files.length, protocol: job.notice.protocol });
    try {
      checkSpace(ctx, job.notice);
      ctx.progress(1, 'download started');
      const files = await downloadAll(ctx, { ...job, notice: a.fresh ?? job.notice }, signal);
      this.logState(job, 'verified', { files: files.length });
      if ((await this.pull(job.module)) === 'none') throw OtaErrors.cancelled(`the platform has no task for module "${job.module}" any more`);
      signal.throwIfAborted();
      await this.setState(job, 'installing');
      const result = await installJob(ctx, job, files, signal);
      const now = await this.version(m);
      if (!result.restartRequired && now === job.notice.version) return await this.succeed(job, now);
      await this.setState(job, 'installed');
      this.logState(job, 'waiting for a restart into the new version', { reported: now });
    } catch (e) {
      await this.fail(job, signal.aborted && !(e instanceof OtaError) ? OtaErrors.cancelled(describe(signal.reason)) : e);
    }
  }

  private context(m: OtaModuleSection, a: Active, throttle: ProgressThrottle): JobContext {
    return {
      device: this.o.device,
      deviceKey: this.key,
      module: m,
      settings: this.o.settings,
      dir: this.dir(m.name),
      store: this.o.store,
      mqtt: this.mqtt,
      registry: this.o.registry,
      logger: this.o.logger,
      refresh: async () => (await this.pull(m.name)) ?? a.fresh,
      progress: (percent, desc) => {
        a.percent = percent;
        a.desc = desc;
        this.o.observer?.otaProgress(m.name, percent);
        if (throttle.due(percent)) void this.messages.progress(m.name, Math.max(1, Math.floor(percent)), desc);
      },
      onBytes: (n) => this.o.observer?.otaBytes(n),
    };
  }

  /** A start into an installed version: healthy once it ran `confirmAfterMs`, then its version decides. */
  private async confirm(job: StoredJob): Promise<void> {
    const m = this.moduleOf(job.module)!;
    const now = await this.version(m);
    if (this.stopping.signal.aborted) return;
    if (now === job.notice.version) return this.succeed(job, now);
    const err =
      job.state === 'installing'
        ? OtaErrors.install(`interrupted by a restart; module "${job.module}" reports ${String(now)}, expected ${job.notice.version}`)
        : OtaErrors.notHealthy(`after the install module "${job.module}" reports version ${String(now)}, expected ${job.notice.version}`);
    await this.fail(job, err);
  }

  private async rollBack(job: StoredJob): Promise<void> {
    const m = this.moduleOf(job.module)!;
    const why = `version ${job.notice.version} did not stay up ${this.o.settings.confirmAfterMs} ms in ${this.o.settings.healthyBoots} starts (ota.healthyBoots); rolled back`;
    this.logState(job, 'rolling back', { boots: job.boots });
    try {
      await rollback(m, jobInfo(this.o.device, job, Date.now() + this.o.settings.installTimeoutMs), stagedPaths(this.dir(job.module), job.notice), this.o.registry, AbortSignal.timeout(this.o.settings.installTimeoutMs));
      await this.fail(job, OtaErrors.notHealthy(why));
    } catch (e) {
      await this.fail(job, OtaErrors.notHealthy(`${why} failed: ${describe(e)}`));
    }
  }

  private async succeed(job: StoredJob, version: string): Promise<void> {
    await this.messages.progress(job.module, 100, `version ${version} installed`);
    await this.messages.inform(job.module, version);
    await this.o.store.deleteJob(this.key, job.module);
    removeStaged(this.dir(job.module));
    this.failures.delete(job.module);
    this.logState(job, 'succeeded', { version });
  }

  private async fail(job: StoredJob, e: unknown): Promise<void> {
    const err = e instanceof OtaError ? e : OtaErrors.install(describe(e));
    if (err.code !== 'OTA_CANCELLED') await this.report(job.module, err);
    else this.logState(job, 'cancelled', { reason: err.message });
    if (this.stopping.signal.aborted && err.code === 'OTA_CANCELLED') return; // resumed at the next start
    await this.o.store.deleteJob(this.key, job.module);
    removeStaged(this.dir(job.module));
  }

  /** A failure progress for `module` (its step, the message as `desc`), counted and logged. */
  private async report(module: string, e: unknown): Promise<void> {
    const err = e instanceof OtaError ? e : OtaErrors.install(describe(e));
    this.failures.set(module, { code: err.code, message: err.message, at: new Date().toISOString() });
    this.o.observer?.otaFailure(module, err.code);
    this.o.logger.warn({ module, code: err.code, step: err.step, err: err.message }, 'ota job failed');
    await this.messages.progress(module, err.step, err.message);
  }

  private async pull(module: string): Promise<OtaNotice | 'none' | undefined> {
    const t = this.messages.topics;
    try {
      const reply = await this.o.router.alinkUpstream.request(t.firmwareGet, AlinkMethods.OTA_FIRMWARE_GET, module === DEFAULT_MODULE ? {} : { module }, 'ota');
      const data = reply.data as Record<string, unknown> | undefined;
      if (!data || typeof data !== 'object' || data.version === undefined) return 'none';
      return parseNotice({ module, ...data });
    } catch (e) {
      this.o.logger.info({ module, err: describe(e) }, 'ota firmware.get gave no job');
      return undefined;
    }
  }

  private cancelIfDownloading(module: string): void {
    const a = this.active.get(module);
    if (a?.job.state === 'downloading') a.controller.abort(new Error(`the platform has no task for module "${module}" any more`));
  }

  private async version(m: OtaModuleSection): Promise<string | undefined> {
    try {
      const v = await readVersion(m, this.o.device, { configDir: this.o.configDir, registry: this.o.registry, timeoutMs: this.o.settings.versionTimeoutMs });
      this.versions.set(m.name, v);
      return v;
    } catch (e) {
      this.o.logger.warn({ module: m.name, code: (e as OtaError).code, err: describe(e) }, 'ota module version not readable; not informed');
      return undefined;
    }
  }

  private async setState(job: StoredJob, state: JobState): Promise<void> {
    job.state = state;
    job.boots = 0;
    job.updatedAt = Date.now();
    await this.o.store.putJob(job);
    this.logState(job, state);
  }

  private logState(job: StoredJob, state: string, extra: Record<string, unknown> = {}): void {
    this.o.logger.info({ device: this.key, module: job.module, version: job.notice.version, from: job.previousVersion, state, ...extra }, `ota job ${state}`);
  }

  private moduleOf(name: string): OtaModuleSection | undefined {
    return this.o.settings.modules.find((m) => m.name === name);
  }

  private dir(module: string): string {
    return jobDir(this.o.stagingDir, this.key, module);
  }

  private later(ms: number, fn: () => Promise<void>): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      void fn();
    }, ms);
    this.timers.add(t);
  }
}
