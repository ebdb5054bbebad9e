/**
 * The platform's OTA service in one place (docs/protocol/ota-platform.md): the catalog of modules and packages,
 * the upload endpoint, and the simulator's own controls for tests (fault injection on downloads, voiding URLs).
 */
import type { FileFault, FileStore } from '../http/files';
import { OtaCatalog } from './catalog';
import { OtaUploads } from './upload';

export interface OtaServiceOptions {
  files: FileStore;
  /** The HTTP listener's base URL, once it listens. */
  baseUrl(): string | undefined;
  now?: () => number;
  /** Lifetime of the download URLs handed to devices (default one hour). */
  urlTtlSeconds?: number;
}

export class OtaService {
  readonly catalog: OtaCatalog;
  readonly uploads: OtaUploads;
  readonly urlTtlSeconds: number;

  constructor(private readonly opts: OtaServiceOptions) {
    const now = opts.now ?? Date.now;
    this.catalog = new OtaCatalog(opts.files, now);
    this.uploads = new OtaUploads(this.catalog, opts.baseUrl, now);
    this.urlTtlSeconds = opts.urlTtlSeconds ?? 3600;
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

  /** Voids every download URL of the package handed out so far (a pull then gets a fresh one). */
  expireUrls(firmwareId: string): void {
    for (const id of this.fileIds(firmwareId)) this.opts.files.expire(id);
  }
}
