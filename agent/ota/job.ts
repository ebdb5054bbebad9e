/**
 * One job, from notice to installed package (docs/ota.md, "A job's steps"): check that the package fits, download
 * every file (resuming from the stored offsets, retrying dropped links, asking for fresh URLs when one expired),
 * verify each file's digest over its whole content, then install. Each failure is an {@link OtaError} whose step
 * the caller reports; nothing is installed unless every file matched its digest.
 */
import { rmSync, statfsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { OtaFile, OtaInstallResult, OtaJobInfo } from '../../handlers/api';
import type { DeviceIdentity } from '../../thing-model/wire';
import type { OtaModuleSection, OtaSection } from '../config/schema';
import type { HandlerRegistry } from '../plugins/registry';
import { OtaError, OtaErrors, describe, urlForLog } from './errors';
import { PermanentDownloadError, UrlRefusedError, downloadAttempt } from './http-download';
import { install } from './install';
import type { MqttBlocks } from './mqtt-download';
import type { OtaNotice } from './notice';
import { StagedFile } from './staged-file';
import type { OtaStore, StoredJob } from './store';

/** Share of the progress scale the download covers; verification and install take the rest before 100. */
const DOWNLOAD_SHARE = 90;

export interface JobContext {
  device: DeviceIdentity;
  deviceKey: string;
  module: OtaModuleSection;
  settings: OtaSection;
  /** This job's own folder under the staging directory. */
  dir: string;
  store: OtaStore;
  mqtt: MqttBlocks;
  registry: HandlerRegistry;
  logger: Logger;
  /** Asks the platform again (`thing.ota.firmware.get`): a fresh notice, `'none'` when it has no task, undefined without an answer. */
  refresh(): Promise<OtaNotice | 'none' | undefined>;
  /** Percent of the whole job (0..99) and a short text, for progress and health. */
  progress(percent: number, desc: string): void;
  onBytes(n: number): void;
}

export function jobDir(stagingDir: string, deviceKey: string, module: string): string {
  return join(stagingDir, deviceKey.replace('/', '+'), module);
}

export function stagedPaths(dir: string, n: OtaNotice): string[] {
  return n.files.map((f, i) => join(dir, `${i}-${f.name}`));
}

export function removeStaged(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Refuses a package that is too large or does not fit the staging file system (OTA_NO_SPACE). */
export function checkSpace(ctx: JobContext, n: OtaNotice): void {
  const s = ctx.settings;
  if (n.size > s.maxPackageBytes) throw OtaErrors.noSpace(`package of ${n.size} bytes is larger than ota.maxPackageBytes (${s.maxPackageBytes})`);
  mkdirSync(ctx.dir, { recursive: true });
  const staged = n.files.reduce((sum, _f, i) => sum + ctx.store.offset(ctx.deviceKey, n.module, i), 0);
  const fs = statfsSync(ctx.dir);
  const free = fs.bavail * fs.bsize;
  const need = n.size - staged + s.reserveBytes;
  if (free < need) throw OtaErrors.noSpace(`package needs ${n.size - staged} more bytes and ota.reserveBytes ${s.reserveBytes} free, the staging directory has ${free}`);
}

/** Downloads and verifies every file; resolves with the staged, verified files. */
export async function downloadAll(ctx: JobContext, job: StoredJob, signal: AbortSignal): Promise<OtaFile[]> {
  let notice = job.notice;
  const paths = stagedPaths(ctx.dir, notice);
  const out: OtaFile[] = [];
  let before = 0;
  for (let i = 0; i < notice.files.length; i++) {
    const f = notice.files[i]!;
    const path = paths[i]!;
    const offset = ctx.store.offset(ctx.deviceKey, notice.module, i);
    const report = (at: number) => ctx.progress(notice.size === 0 ? DOWNLOAD_SHARE : (DOWNLOAD_SHARE * (before + at)) / notice.size, `downloading ${f.name}`);
    const file = await StagedFile.open(path, notice.signMethod, offset, ctx.settings.blockBytes, (at) => {
      ctx.store.setOffset(ctx.deviceKey, notice.module, i, at, f.size, f.sign);
      report(at);
    });
    try {
      if (file.offset > 0) ctx.logger.info({ module: notice.module, file: f.name, offset: file.offset, recorded: file.durable, size: f.size }, 'ota download resumes where the staged file ends');
      notice = await fetchFile(ctx, notice, i, file, signal);
      const got = file.digest();
      if (got !== f.sign) {
        // The bytes are wrong, not late: start the next attempt from zero.
        removeStaged(path);
        ctx.store.setOffset(ctx.deviceKey, notice.module, i, 0, f.size, f.sign);
        throw OtaErrors.digest(f.name, notice.signMethod === 'md5' ? 'MD5' : 'SHA-256', f.sign, got);
      }
    } finally {
      await file.close();
    }
    out.push({ name: f.name, path, size: f.size, sign: f.sign, signMethod: notice.signMethod });
    before += f.size;
  }
  return out;
}

async function fetchFile(ctx: JobContext, notice: OtaNotice, i: number, file: StagedFile, signal: AbortSignal): Promise<OtaNotice> {
  const s = ctx.settings;
  let refreshed = false;
  for (let attempt = 0; ; attempt++) {
    const f = notice.files[i]!;
    try {
      if (notice.protocol === 'mqtt') {
        await ctx.mqtt.download(file, notice.streamId ?? 0, f.streamFileId ?? 0, f.size, s.mqttBlockBytes, signal, ctx.onBytes);
      } else {
        await downloadAttempt(file, { url: f.url!, size: f.size, idleTimeoutMs: s.idleTimeoutMs, signal, onBytes: ctx.onBytes });
      }
      return notice;
    } catch (e) {
      if (signal.aborted) throw OtaErrors.cancelled(describe(signal.reason));
      if (e instanceof OtaError) throw e;
      if (e instanceof PermanentDownloadError) throw OtaErrors.download(f.name, e.message);
      if (e instanceof UrlRefusedError) {
        if (refreshed) throw OtaErrors.expired(f.name, e.status);
        refreshed = true;
        ctx.logger.info({ module: notice.module, file: f.name, status: e.status, url: urlForLog(f.url ?? '') }, 'ota URL refused; asking the platform for a fresh one');
        const fresh = await ctx.refresh();
        if (fresh === 'none') throw OtaErrors.cancelled(`the platform has no task for module "${notice.module}" any more`);
        if (!fresh || fresh.files.length !== notice.files.length || fresh.files.some((g, k) => g.sign !== notice.files[k]!.sign)) throw OtaErrors.expired(f.name, e.status);
        notice = fresh;
        attempt--;
        continue;
      }
      if (attempt >= s.retries) throw OtaErrors.download(f.name, `${describe(e)} (after ${attempt + 1} attempts, ota.retries)`);
      ctx.logger.info({ module: notice.module, file: f.name, offset: file.offset, attempt: attempt + 1, err: describe(e) }, 'ota download interrupted; resuming');
      await sleep(s.retryDelayMs * Math.min(2 ** attempt, 30), signal).catch(() => undefined);
      if (signal.aborted) throw OtaErrors.cancelled(describe(signal.reason));
    }
  }
}

export function jobInfo(device: DeviceIdentity, job: StoredJob, deadline: number): OtaJobInfo {
  const n = job.notice;
  return {
    device,
    module: n.module,
    version: n.version,
    ...(job.previousVersion !== undefined ? { previousVersion: job.previousVersion } : {}),
    isDiff: n.isDiff,
    extData: n.extData,
    deadline,
  };
}

/** Installs with the deadline `ota.installTimeoutMs`; throws OTA_INSTALL_FAILED. */
export async function installJob(ctx: JobContext, job: StoredJob, files: OtaFile[], signal: AbortSignal): Promise<OtaInstallResult> {
  const timeoutMs = ctx.settings.installTimeoutMs;
  const deadline = Date.now() + timeoutMs;
  const timeout = AbortSignal.timeout(timeoutMs);
  const both = AbortSignal.any([signal, timeout]);
  const progress = (percent: number, desc?: string) => {
    if (Number.isFinite(percent)) ctx.progress(DOWNLOAD_SHARE + (Math.max(0, Math.min(100, percent)) * (99 - DOWNLOAD_SHARE)) / 100, desc ?? 'installing');
  };
  try {
    return await install(ctx.module, files, jobInfo(ctx.device, job, deadline), progress, ctx.registry, both);
  } catch (e) {
    if (timeout.aborted && !signal.aborted) throw OtaErrors.install(`not done within ${timeoutMs} ms (ota.installTimeoutMs)`);
    throw e;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason as Error)), { once: true });
  });
}
