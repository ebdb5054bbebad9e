/**
 * Files the simulator hands out by URL, as the platform hands out OSS URLs (docs/protocol/remote-config.md, "The
 * file"; docs/protocol/ota-platform.md, "The firmware file server"): parse scripts (GetThingScript's ScriptUrl),
 * remote configuration files and OTA firmware. Each URL is signed and expires:
 * `/files/{id}?Expires={epoch s}&Signature={hex HMAC-SHA256 of "{id}\n{Expires}[\n{generation}]"}` under a key made
 * when the simulator starts, so a URL cannot be guessed, changed or used after it expired. `expire(id)` bumps the
 * file's generation, which voids every URL handed out before (the fault "the URL expired" of the OTA tests).
 *
 * Downloads honour one `Range: bytes=...` (206 with Content-Range, 416 past the end), as OSS does and as devices
 * resuming a firmware download need; faults set with `setFault` drop the connection after N bytes or flip a byte.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const FILES_PREFIX = '/files/';

/** Faults the OTA tests inject into one file's downloads (docs/protocol/ota-platform.md, "Fault injection"). */
export interface FileFault {
  /** Close the connection after this many body bytes of a response. */
  dropAfterBytes?: number;
  /** How many responses the drop applies to (default 1); the ones after are whole again. */
  dropTimes?: number;
  /** Serve the byte at this file offset inverted (every response, every channel), until cleared. */
  corruptByteAt?: number;
}

/** One download of a stored file, as the tests that count re-fetched bytes read it (`sim.ota.downloads`). */
export interface DownloadRecord {
  channel: 'https' | 'mqtt';
  status: number;
  /** First and last byte offsets served (inclusive); absent for a refused request. */
  start?: number;
  end?: number;
  /** True once the whole body left; false while it is being sent or after the connection went away mid-body. */
  complete: boolean;
  at: number;
}

/** The most download records kept per file. */
const MAX_RECORDS = 1000;

export interface ServedFile {
  status: number;
  body: Buffer;
  contentType: string;
  headers: Record<string, string | number>;
  /** Set when the connection must be dropped after this many body bytes. */
  dropAfterBytes?: number;
  /** The download's record, completed by the HTTP layer when the body has left. */
  record?: DownloadRecord;
}

interface StoredFile {
  body: Buffer;
  contentType: string;
  generation: number;
  fault?: FileFault;
  log: DownloadRecord[];
}

const text = (status: number, s: string, headers: Record<string, string | number> = {}): ServedFile => ({
  status,
  body: Buffer.from(s + '\n'),
  contentType: 'text/plain',
  headers,
});

/** `bytes=a-b`, `bytes=a-`, `bytes=-n` against a file of `size` bytes; undefined = serve it whole (absent, malformed or several ranges). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

export class FileStore {
  private readonly key = randomBytes(32);
  private readonly files = new Map<string, StoredFile>();

  constructor(
    /** The HTTP listener's base URL, once it listens. */
    private readonly baseUrl: () => string | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** Stores `body` under `id` (replacing what was there) and returns a signed URL valid for `ttlSeconds`. */
  put(id: string, body: Buffer, contentType = 'application/octet-stream', ttlSeconds = 3600): string {
    this.files.set(id, { body, contentType, generation: this.files.get(id)?.generation ?? 0, log: [] });
    return this.url(id, ttlSeconds);
  }

  has(id: string): boolean {
    return this.files.has(id);
  }

  /** A fresh signed URL for a stored file. */
  url(id: string, ttlSeconds = 3600): string {
    const expires = Math.floor(this.now() / 1000) + ttlSeconds;
    const base = this.baseUrl() ?? 'http://127.0.0.1';
    return `${base}${FILES_PREFIX}${encodeURIComponent(id)}?Expires=${expires}&Signature=${this.sign(id, expires, this.files.get(id)?.generation ?? 0)}`;
  }

  /** Voids every URL of the file handed out so far; later `url()`s work. False when there is no such file. */
  expire(id: string): boolean {
    const f = this.files.get(id);
    if (!f) return false;
    f.generation++;
    return true;
  }

  /** Sets (or with `undefined` clears) the faults of one file's downloads. */
  setFault(id: string, fault: FileFault | undefined): void {
    const f = this.files.get(id);
    if (!f) throw new Error(`no stored file ${id}`);
    f.fault = fault ? { ...fault } : undefined;
  }

  /** The downloads of a stored file so far, oldest first (the last 1000). */
  downloads(id: string): DownloadRecord[] {
    return [...(this.files.get(id)?.log ?? [])];
  }

  /** Notes a download (the MQTT block channel notes its blocks here too). */
  record(id: string, r: Omit<DownloadRecord, 'at'>): DownloadRecord | undefined {
    const f = this.files.get(id);
    if (!f) return undefined;
    const rec = { ...r, at: this.now() };
    f.log.push(rec);
    if (f.log.length > MAX_RECORDS) f.log.shift();
    return rec;
  }

  /** Bytes `start..end` (inclusive) of a stored file as downloads see them, the corrupt-byte fault applied. */
  bytes(id: string, start = 0, end?: number): Buffer | undefined {
    const f = this.files.get(id);
    if (!f) return undefined;
    const last = Math.min(end ?? f.body.length - 1, f.body.length - 1);
    const slice = f.body.subarray(start, last + 1);
    const at = f.fault?.corruptByteAt;
    if (at === undefined || at < start || at > last) return slice;
    const copy = Buffer.from(slice);
    copy[at - start] = copy[at - start]! ^ 0xff;
    return copy;
  }

  /**
   * Answers a GET on `/files/...`: 200 with the file (206 for a satisfiable Range, 416 past its end), 403 for a
   * bad or expired signature, 404 for none.
   */
  serve(path: string, query: URLSearchParams, range?: string, head = false): ServedFile {
    const id = decodeURIComponent(path.slice(FILES_PREFIX.length));
    const expires = Number(query.get('Expires'));
    const f = this.files.get(id);
    const given = Buffer.from(query.get('Signature') ?? '', 'utf8');
    const generation = f?.generation ?? 0;
    const valid = (g: number) => {
      const want = Buffer.from(Number.isInteger(expires) ? this.sign(id, expires, g) : '', 'utf8');
      return given.length === want.length && want.length > 0 && timingSafeEqual(given, want);
    };
    if (!valid(generation)) {
      const voided = generation > 0 && Array.from({ length: Math.min(generation, 16) }, (_, i) => generation - 1 - i).some(valid);
      return voided ? text(403, 'URL expired') : text(403, 'signature does not match');
    }
    if (expires * 1000 < this.now()) return text(403, 'URL expired');
    if (!f) return text(404, 'no such file');
    const size = f.body.length;
    const r = parseRange(range, size);
    if (r === 'unsatisfiable') {
      if (!head) this.record(id, { channel: 'https', status: 416, complete: true });
      return text(416, 'range not satisfiable', { 'content-range': `bytes */${size}` });
    }
    const start = r?.start ?? 0;
    const end = r?.end ?? size - 1;
    const served: ServedFile = {
      status: r ? 206 : 200,
      body: size === 0 ? f.body : this.bytes(id, start, end)!,
      contentType: f.contentType,
      headers: { 'accept-ranges': 'bytes', ...(r ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}) },
    };
    if (!head) served.record = this.record(id, { channel: 'https', status: served.status, start, end, complete: false });
    const fault = f.fault;
    if (fault?.dropAfterBytes !== undefined && (fault.dropTimes ?? 1) > 0) {
      fault.dropTimes = (fault.dropTimes ?? 1) - 1;
      served.dropAfterBytes = fault.dropAfterBytes;
    }
    return served;
  }

  private sign(id: string, expires: number, generation: number): string {
    const content = generation === 0 ? `${id}\n${expires}` : `${id}\n${expires}\n${generation}`;
    return createHmac('sha256', this.key).update(content).digest('hex');
  }
}
