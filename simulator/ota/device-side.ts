/**
 * The platform's OTA half on MQTT (docs/protocol/ota-platform.md, "Device side"): version informs, progress,
 * pulls (`thing.ota.firmware.get`, and the legacy `/ota/device/request` answered on `upgrade`), notices pushed
 * on `/ota/device/upgrade/{pk}/{dn}`, and the MQTT block download (`thing/file/download`). None of the
 * `/ota/device/...` messages needs `method` or `version`, and ids may be numbers or strings.
 */
import type { Logger } from 'pino';
import { AlinkCodes, isPlainObject } from '../../thing-model';
import { OTA_NOTICE_CODE, otaTopics } from '../../thing-model/wire';
import type { FileStore } from '../http/files';
import type { DeviceId } from '../mqtt/acl';
import type { Registry } from '../registry';
import { DEFAULT_MODULE, type OtaCatalog } from './catalog';
import { encodeBlockReply, MAX_BLOCK_BYTES, parseLenientJson } from './file-download';
import type { OtaJobs } from './jobs';
import { noticeData, type SignMethodSpelling } from './notice';
import type { OtaJob, OtaTask } from './tasks';

export interface OtaDeviceSideOptions {
  registry: Registry;
  catalog: OtaCatalog;
  files: FileStore;
  logger: Logger;
  urlTtlSeconds: number;
  spelling: () => SignMethodSpelling;
  send(topic: string, payload: Buffer, qos: 0 | 1): Promise<void>;
}

const OTA_UP = /^\/ota\/device\/(inform|progress|request)\/([^/]+)\/([^/]+)$/;
const SYS_OTA = /^\/sys\/([^/]+)\/([^/]+)\/thing\/(ota\/firmware\/get|file\/download)$/;

/** Large increasing notice ids, exact in a JSON number (the platform's own are above 2^32). */
class NoticeIds {
  private next = Date.now() * 1000;
  nextId(): number {
    return this.next++;
  }
}

export class OtaDeviceSide {
  private readonly ids = new NoticeIds();

  constructor(
    private readonly opts: OtaDeviceSideOptions,
    private readonly jobs: OtaJobs,
  ) {}

  /** Takes the OTA topics; false for every other one. */
  handles(topic: string, payload: Buffer, origin?: DeviceId): boolean {
    const up = OTA_UP.exec(topic);
    const sys = up ? undefined : SYS_OTA.exec(topic);
    if (!up && !sys) return false;
    const id = up ? { productKey: up[2]!, deviceName: up[3]! } : { productKey: sys![1]!, deviceName: sys![2]! };
    const kind = up ? up[1]! : sys![3]!;
    const device = this.opts.registry.device(id.productKey, id.deviceName);
    if ((origin && (origin.productKey !== id.productKey || origin.deviceName !== id.deviceName)) || !device) return true;
    const req = parseLenientJson(payload);
    const params = req && isPlainObject(req.params) ? req.params : {};
    const moduleName = typeof params.module === 'string' && params.module !== '' ? params.module : DEFAULT_MODULE;
    const done = (p: Promise<void> | void) => void Promise.resolve(p).catch((e: Error) => this.opts.logger.warn({ topic, err: e.message }, 'handling an OTA message failed'));
    switch (kind) {
      case 'inform':
        if (typeof params.version === 'string' && params.version !== '') this.jobs.onInform(id, device, moduleName, params.version);
        else this.opts.logger.debug({ topic }, 'OTA inform without a version ignored');
        return true;
      case 'progress': {
        const step = typeof params.step === 'number' ? params.step : typeof params.step === 'string' && /^-?\d+$/.test(params.step.trim()) ? Number(params.step) : NaN;
        if (Number.isInteger(step)) this.jobs.onProgress(id, moduleName, step, typeof params.desc === 'string' ? params.desc : '');
        else this.opts.logger.debug({ topic }, 'OTA progress without an integer step ignored');
        return true;
      }
      case 'request':
        return done(this.answerLegacyPull(id, moduleName)), true;
      case 'ota/firmware/get':
        return done(this.answerPull(id, moduleName, req?.id)), true;
      default:
        return done(this.answerBlock(id, req)), true;
    }
  }

  /** Pushes a task's notice (QoS 1). */
  async push(task: OtaTask, job: OtaJob): Promise<void> {
    const body = { code: OTA_NOTICE_CODE, id: this.ids.nextId(), message: 'success', data: this.data(task, job) };
    await this.opts.send(otaTopics(task).upgrade, Buffer.from(JSON.stringify(body)), 1);
  }

  private data(task: OtaTask, job: OtaJob): Record<string, unknown> {
    const fw = this.opts.catalog.firmware.get(task.firmwareId)!;
    return noticeData(fw, job, { url: (i) => this.opts.files.url(fw.files[i]!.fileId, this.opts.urlTtlSeconds), spelling: this.opts.spelling() });
  }

  /** `thing.ota.firmware.get`: the pending task's notice data (with fresh URLs), or `data: {}` when there is none. */
  private async answerPull(id: DeviceId, moduleName: string, reqId: unknown): Promise<void> {
    const task = this.jobs.pullable(id, moduleName);
    const data = task ? this.data(task, this.jobs.jobs.get(task.jobId)!) : {};
    if (task) this.jobs.notified(task);
    const reply = { id: reqId, code: AlinkCodes.SUCCESS, data, version: '1.0' };
    await this.opts.send(otaTopics(id).firmwareGetReply, Buffer.from(JSON.stringify(reply)), 0);
  }

  /** The legacy pull: answered with a notice on `upgrade` when a task is pending, else not at all. */
  private async answerLegacyPull(id: DeviceId, moduleName: string): Promise<void> {
    const task = this.jobs.pullable(id, moduleName);
    if (!task) return;
    await this.push(task, this.jobs.jobs.get(task.jobId)!);
    this.jobs.notified(task);
  }

  /** `thing/file/download`: one block of a job's file, for a device that has a task in the job. */
  private async answerBlock(id: DeviceId, req: Record<string, unknown> | undefined): Promise<void> {
    const topic = otaTopics(id).fileDownloadReply;
    const params = req && isPlainObject(req.params) ? req.params : undefined;
    const info = params && isPlainObject(params.fileInfo) ? params.fileInfo : undefined;
    const block = params && isPlainObject(params.fileBlock) ? params.fileBlock : undefined;
    const fileToken = params?.fileToken;
    const fail = (code: number, message: string) => this.opts.send(topic, encodeBlockReply({ id: req?.id, code, message, data: { fileToken } }), 0);
    const streamId = Number(info?.streamId);
    const fileId = Number(info?.fileId);
    const offset = Number(block?.offset ?? 0);
    const size = Number(block?.size);
    if (!info || !block || !Number.isInteger(streamId) || !Number.isInteger(fileId) || !Number.isInteger(offset) || offset < 0 || !Number.isInteger(size) || size <= 0) {
      return fail(AlinkCodes.PARAM_ERROR, 'params: expected {fileToken, fileInfo:{streamId, fileId}, fileBlock:{size, offset}} with integers');
    }
    const job = [...this.jobs.jobs.values()].find((j) => j.streamId === streamId && j.downloadProtocol === 'MQTT');
    const task = job && this.jobs.tasksOf(job).find((t) => t.productKey === id.productKey && t.deviceName === id.deviceName && t.status !== 'CANCELED');
    const file = job && this.opts.catalog.firmware.get(job.firmwareId)?.files[fileId - 1];
    if (!task || !file) return fail(AlinkCodes.REQUEST_ERROR, `no file ${fileId} of stream ${streamId} for this device`);
    if (offset >= file.size) return fail(AlinkCodes.PARAM_ERROR, `fileBlock.offset: expected below the file length ${file.size}, received ${offset}`);
    const bytes = this.opts.files.bytes(file.fileId, offset, offset + Math.min(size, MAX_BLOCK_BYTES) - 1)!;
    this.opts.files.record(file.fileId, { channel: 'mqtt', status: AlinkCodes.SUCCESS, start: offset, end: offset + bytes.length - 1, complete: true });
    const header = { id: req?.id, code: AlinkCodes.SUCCESS, data: { bSize: bytes.length, bOffset: offset, fileLength: file.size, fileToken } };
    await this.opts.send(topic, encodeBlockReply(header, bytes), 0);
  }
}
