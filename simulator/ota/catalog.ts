/**
 * The platform's OTA catalog (docs/protocol/ota-platform.md, "Modules, uploads and packages"): a product's OTA
 * modules, uploaded files and update packages (firmware), single- or multi-file. Uploaded bytes live in the
 * simulator's signed file store, so every download URL handed to a device is signed, expires, and honours Range.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FileStore } from '../http/files';

/** A module every product has (a device's whole firmware when it names none). */
export const DEFAULT_MODULE = 'default';
/** The platform keeps at most this many packages per instance. */
export const MAX_FIRMWARE = 500;

export type SignMethod = 'MD5' | 'SHA256';

export interface OtaModule {
  productKey: string;
  moduleName: string;
  aliasName?: string;
  desc?: string;
  utcCreate: string;
}

export interface FirmwareFile {
  name: string;
  /** The FirmwareUrl / MultiFiles.N.Url the package was created with. */
  url: string;
  /** Where the bytes are in the file store. */
  fileId: string;
  size: number;
  /** Digest announced to devices (lower-case hex, docs/protocol/ota-platform.md): FirmwareSign/SignValue or computed. */
  sign: string;
  /** MD5 of the bytes (lower-case hex), or FileMd5 as given. */
  md5: string;
}

export interface Firmware {
  firmwareId: string;
  productKey?: string;
  name: string;
  desc?: string;
  destVersion: string;
  srcVersion?: string;
  moduleName: string;
  /** 0 whole package, 1 differential. */
  type: 0 | 1;
  signMethod: SignMethod;
  /** -1 no verification needed, 1 verified (the simulator verifies the digest when the package is created). */
  status: -1 | 1;
  udi?: string;
  multi: boolean;
  files: FirmwareFile[];
  utcCreate: string;
  utcModified: string;
}

/** An upload slot from GenerateOTAUploadURL. */
export interface UploadSlot {
  key: string;
  expiresAt: number;
}

/** Opaque ids shaped like the platform's (26 letters and digits). */
export function newId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(26), (b) => alphabet[b % alphabet.length]).join('');
}

export function digest(method: SignMethod, body: Buffer): string {
  return createHash(method === 'MD5' ? 'md5' : 'sha256').update(body).digest('hex');
}

export const utcNow = (ms: number) => new Date(ms).toISOString();

export class OtaCatalog {
  private readonly modules = new Map<string, OtaModule>();
  private readonly slots = new Map<string, UploadSlot>();
  /** FirmwareUrl → file store id, for every completed upload. */
  private readonly uploads = new Map<string, string>();
  readonly firmware = new Map<string, Firmware>();

  constructor(
    readonly files: FileStore,
    private readonly now: () => number,
  ) {}

  // ---- modules ----------------------------------------------------------------------------------------------

  module(productKey: string, moduleName: string): OtaModule | undefined {
    if (moduleName === DEFAULT_MODULE) return { productKey, moduleName, utcCreate: utcNow(0) };
    return this.modules.get(`${productKey}/${moduleName}`);
  }

  /** False when the product already has the module. */
  addModule(m: Omit<OtaModule, 'utcCreate'>): boolean {
    const key = `${m.productKey}/${m.moduleName}`;
    if (m.moduleName === DEFAULT_MODULE || this.modules.has(key)) return false;
    this.modules.set(key, { ...m, utcCreate: utcNow(this.now()) });
    return true;
  }

  // ---- uploads ----------------------------------------------------------------------------------------------

  /** A slot for one OSS-style PostObject upload, valid for `ttlSeconds`. */
  newSlot(suffix: string, ttlSeconds: number): UploadSlot {
    const slot = { key: `ota/${newId()}.${suffix}`, expiresAt: this.now() + ttlSeconds * 1000 };
    this.slots.set(slot.key, slot);
    return slot;
  }

  slot(key: string): UploadSlot | undefined {
    const s = this.slots.get(key);
    return s && s.expiresAt >= this.now() ? s : undefined;
  }

  /** Stores an upload's bytes; returns the FirmwareUrl that names them in CreateOTAFirmware. */
  completeUpload(key: string, body: Buffer, firmwareUrl: string): string {
    this.slots.delete(key);
    this.files.put(key, body);
    this.uploads.set(firmwareUrl, key);
    return firmwareUrl;
  }

  /** The file store id of an uploaded FirmwareUrl (query string ignored, as OSS object URLs are signed variously). */
  uploadedFile(firmwareUrl: string): string | undefined {
    const q = firmwareUrl.indexOf('?');
    return this.uploads.get(q < 0 ? firmwareUrl : firmwareUrl.slice(0, q));
  }

  // ---- packages ---------------------------------------------------------------------------------------------

  addFirmware(f: Omit<Firmware, 'firmwareId' | 'utcCreate' | 'utcModified'>): Firmware {
    const at = utcNow(this.now());
    const fw: Firmware = { ...f, firmwareId: newId(), utcCreate: at, utcModified: at };
    this.firmware.set(fw.firmwareId, fw);
    return fw;
  }
}
