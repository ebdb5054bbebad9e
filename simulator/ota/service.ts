/**
 * The platform's OTA service in one place (docs/protocol/ota-platform.md): the catalog of modules and packages,
 * the upload endpoint, and the simulator's own controls for tests (fault injection on downloads, voiding URLs).
 */
import type { Logger } from 'pino';
import type { DownloadRecord, FileFault, FileStore } from '../http/files';
import type { DeviceId } from '../mqtt/acl';
import type { Registry } from '../registry';
import { OtaCatalog } from './catalog';
import { OtaDeviceSide } from './device-side';
import { OtaJobs } from './jobs';
import type { SignMethodSpelling } from './notice';
import { OtaUploads } from './upload';

/** What the OTA service needs from the MQTT side, given once the platform exists. */
export interface OtaLink {
  send(topic: string, payload: Buffer, qos: 0 | 1): Promise<void>;
  online(id: DeviceId): boolean;
}

/** The simulator's OTA knobs (CloudSimulatorOptions.ota). */
export interface OtaOptions {
  /** How long a "minute" of TimeoutInMinutes and RetryInterval lasts, in ms (default 60000; tests shorten it). */
  minuteMs?: number;
  /** Lifetime of the download URLs handed to devices (default 3600 s). */
  urlTtlSeconds?: number;
  /** How long after a device connects its queued notices are pushed (default 1000 ms; an inform pushes at once). */
  onlinePushDelayMs?: number;
  /** `signMethod` of MD5 packages in notices: `sdk` "Md5" (default) or `doc` "MD5" (docs/protocol/ota-platform.md). */
  signMethodSpelling?: SignMethodSpelling;
}

export interface OtaServiceOptions extends OtaOptions {
  files: FileStore;
  registry: Registry;
  logger: Logger;
  /** The HTTP listener's base URL, once it listens. */
  baseUrl(): string | undefined;
  now?: () => number;
}

export class OtaService {
  readonly catalog: OtaCatalog;
  readonly uploads: OtaUploads;
  readonly jobs: OtaJobs;
  readonly device: OtaDeviceSide;
  readonly urlTtlSeconds: number;
  /** `signMethod` spelling of MD5 packages in notices; tests switch it. */
  spelling: SignMethodSpelling;
  private link?: OtaLink;
  /** The clock jobs and URLs follow (CloudSimulatorOptions.clock). */
  readonly now: () => number;

  constructor(private readonly opts: OtaServiceOptions) {
    const now = opts.now ?? Date.now;
    this.now = now;
    this.catalog = new OtaCatalog(opts.files, now);
    this.uploads = new OtaUploads(this.catalog, opts.baseUrl, now);
    this.urlTtlSeconds = opts.urlTtlSeconds ?? 3600;
    this.spelling = opts.signMethodSpelling ?? 'sdk';
    this.jobs = new OtaJobs({
      logger: opts.logger,
      now,
      minuteMs: opts.minuteMs ?? 60_000,
      onlinePushDelayMs: opts.onlinePushDelayMs ?? 1000,
      firmware: (id) => this.catalog.firmware.get(id),
      online: (id) => this.link?.online(id) ?? false,
      push: (task, job) => this.device.push(task, job),
    });
    this.device = new OtaDeviceSide(
      {
        registry: opts.registry,
        catalog: this.catalog,
        files: opts.files,
        logger: opts.logger,
        urlTtlSeconds: this.urlTtlSeconds,
        spelling: () => this.spelling,
        send: (topic, payload, qos) => {
          if (!this.link) return Promise.reject(new Error('the MQTT side of the simulator is not running'));
          return this.link.send(topic, payload, qos);
        },
      },
      this.jobs,
    );
  }

  /** Called by the platform once: how to reach devices. */
  attach(link: OtaLink): void {
    this.link = link;
  }

  /** Stops the job timers (timeouts, retries, schedules). */
  close(): void {
    this.jobs.close();
  }

  /** The file store ids of a package's files, in order; throws for an unknown package or file index. */
  fileIds(firmwareId: string, fileIndex?: number): string[] {
    const fw = this.catalog.firmware.get(firmwareId);
    if (!fw) throw new Error(`no update package ${firmwareId}`);
    if (fileIndex === undefined) return fw.files.map((f) => f.fileId);
    const f = fw.files[fileIndex];
    if (!f) throw new Error(`package ${firmwareId} has no file ${fileIndex}`);
    return [f.fileId];
  }

  /** A fresh signed download URL of one file of a package (what a notice carries). */
  downloadUrl(firmwareId: string, fileIndex = 0): string {
    return this.opts.files.url(this.fileIds(firmwareId, fileIndex)[0]!, this.urlTtlSeconds);
  }

  /** Sets or clears download faults on a package's files (all of them unless `fileIndex`). */
  setFault(firmwareId: string, fault: FileFault | undefined, fileIndex?: number): void {
    for (const id of this.fileIds(firmwareId, fileIndex)) this.opts.files.setFault(id, fault);
  }

  /**
   * The downloads of one file of a package so far (HTTPS responses with their byte range and whether the body
   * left whole; MQTT blocks), oldest first: what a resume test counts.
   */
  downloads(firmwareId: string, fileIndex = 0): DownloadRecord[] {
    return this.opts.files.downloads(this.fileIds(firmwareId, fileIndex)[0]!);
  }

  /** Voids every download URL of the package handed out so far (a pull then gets a fresh one). */
  expireUrls(firmwareId: string): void {
    for (const id of this.fileIds(firmwareId)) this.opts.files.expire(id);
  }
}
