/**
 * The upgrade notice (`/ota/device/upgrade`, and the `data` of a `thing.ota.firmware.get` answer), checked into
 * one shape. Every spelling the official SDKs and the documentation show is accepted (docs/protocol/ota.md,
 * "Upgrade notice"): `id` number or string, `code` "1000" or 1000, `signMethod` in any case (`MD5`, `Md5`,
 * `SHA256`, `Sha256`, `SHA-256`), `sign` or the older `md5`, sizes as numbers or digit strings, `isDiff` 0/1 or a
 * boolean, single-file (`url`) and multi-file (`files`) packages, HTTPS or MQTT (`dProtocol: "mqtt"`).
 */
import { OtaErrors } from './errors';

export type SignMethod = 'md5' | 'sha256';

export interface NoticeFile {
  name: string;
  size: number;
  /** Lower-case hex. */
  sign: string;
  /** HTTPS download. */
  url?: string;
  /** MQTT download. */
  streamFileId?: number;
}

export interface OtaNotice {
  module: string;
  version: string;
  isDiff: boolean;
  signMethod: SignMethod;
  extData: Record<string, unknown>;
  protocol: 'https' | 'mqtt';
  streamId?: number;
  files: NoticeFile[];
  /** All files together. */
  size: number;
}

export const DEFAULT_MODULE = 'default';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A pushed notice's envelope: `{code, id, message, data}`. Returns the `data` object. */
export function noticeData(payload: Buffer): Obj {
  let v: unknown;
  try {
    v = JSON.parse(payload.toString('utf8'));
  } catch {
    throw OtaErrors.invalid('payload', 'a JSON object', payload.toString('utf8', 0, 80));
  }
  if (!isObj(v)) throw OtaErrors.invalid('payload', 'a JSON object', v);
  // C3 checks `message == "success"` and ignores `code`; the documented notice has both.
  if (v.code !== undefined && String(v.code) !== '1000' && v.message !== 'success') throw OtaErrors.invalid('code', '"1000"', v.code);
  if (!isObj(v.data)) throw OtaErrors.invalid('data', 'an object', v.data);
  return v.data;
}

/** The module a notice names, before the rest is checked (so that a broken notice is reported for its module). */
export function noticeModule(data: Obj): string {
  return typeof data.module === 'string' && data.module !== '' ? data.module : DEFAULT_MODULE;
}

export function parseNotice(data: Obj): OtaNotice {
  const module = noticeModule(data);
  const version = data.version;
  if (typeof version !== 'string' || version === '') throw OtaErrors.invalid('version', 'a non-empty string', version);
  const signMethod = parseSignMethod(data);
  const protocol = typeof data.dProtocol === 'string' && data.dProtocol.toLowerCase() === 'mqtt' ? 'mqtt' : 'https';
  const streamId = protocol === 'mqtt' ? count('streamId', data.streamId) : undefined;
  const files = Array.isArray(data.files) ? parseFiles(data.files, signMethod, protocol) : [singleFile(data, signMethod, protocol)];
  if (files.length === 0) throw OtaErrors.invalid('files', 'at least one file', data.files);
  return {
    module,
    version,
    isDiff: data.isDiff === 1 || data.isDiff === true || data.isDiff === '1',
    signMethod,
    extData: isObj(data.extData) ? data.extData : {},
    protocol,
    ...(streamId !== undefined ? { streamId } : {}),
    files,
    size: files.reduce((n, f) => n + f.size, 0),
  };
}

function parseSignMethod(data: Obj): SignMethod {
  const raw = data.signMethod;
  if (raw === undefined && typeof data.md5 === 'string') return 'md5';
  if (typeof raw !== 'string') throw OtaErrors.invalid('signMethod', '"MD5" or "SHA256" (any case)', raw);
  const m = raw.toLowerCase().replace('-', '');
  if (m !== 'md5' && m !== 'sha256') throw OtaErrors.invalid('signMethod', '"MD5" or "SHA256" (any case)', raw);
  return m;
}

function singleFile(data: Obj, method: SignMethod, protocol: 'https' | 'mqtt'): NoticeFile {
  const sign = digest('sign', data.sign ?? (method === 'md5' ? data.md5 : undefined), method);
  const size = count('size', data.size);
  if (protocol === 'mqtt') return { name: 'firmware.bin', size, sign, streamFileId: count('streamFileId', data.streamFileId ?? 0) };
  const url = httpUrl('url', data.url);
  return { name: nameOf(url), size, sign, url };
}

function parseFiles(list: unknown[], method: SignMethod, protocol: 'https' | 'mqtt'): NoticeFile[] {
  const names = new Set<string>();
  return list.map((f, i) => {
    const at = `files[${i}]`;
    if (!isObj(f)) throw OtaErrors.invalid(at, 'an object {fileName, fileSize, fileUrl, fileSign}', f);
    const size = count(`${at}.fileSize`, f.fileSize ?? f.size);
    const sign = digest(`${at}.fileSign`, f.fileSign ?? f.sign, method);
    const url = protocol === 'https' ? httpUrl(`${at}.fileUrl`, f.fileUrl ?? f.url) : undefined;
    let name = typeof f.fileName === 'string' && f.fileName !== '' ? f.fileName : url ? nameOf(url) : `file-${i}`;
    // A staged file is named after it: no directories, no clash between two files of one package.
    if (!/^[A-Za-z0-9_.+-]{1,128}$/.test(name) || name === '.' || name === '..') throw OtaErrors.invalid(`${at}.fileName`, 'a file name of letters, digits, _ . + -', f.fileName);
    if (names.has(name)) name = `${i}-${name}`;
    names.add(name);
    return { name, size, sign, ...(url ? { url } : { streamFileId: count(`${at}.streamFileId`, f.streamFileId ?? i) }) };
  });
}

function count(field: string, v: unknown): number {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw OtaErrors.invalid(field, 'a byte count (a non-negative integer)', v);
  return n;
}

function digest(field: string, v: unknown, method: SignMethod): string {
  const len = method === 'md5' ? 32 : 64;
  if (typeof v !== 'string' || !new RegExp(`^[0-9a-fA-F]{${len}}$`).test(v)) throw OtaErrors.invalid(field, `the ${method === 'md5' ? 'MD5' : 'SHA-256'} digest in hex (${len} characters)`, v);
  return v.toLowerCase();
}

function httpUrl(field: string, v: unknown): string {
  if (typeof v !== 'string' || !/^https?:\/\//i.test(v)) throw OtaErrors.invalid(field, 'an http:// or https:// URL', v);
  return v;
}

function nameOf(url: string): string {
  let base = 'firmware.bin';
  try {
    const last = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
    if (/^[A-Za-z0-9_.+-]{1,128}$/.test(last) && last !== '.' && last !== '..') base = last;
  } catch {
    // keep the default
  }
  return base;
}

/** Two notices are the same job when they name the same module, version and file digests (URLs may be fresh). */
export function jobKey(n: OtaNotice): string {
  return `${n.module}@${n.version}:${n.files.map((f) => f.sign).join(',')}`;
}
