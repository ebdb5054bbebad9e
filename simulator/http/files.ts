/**
 * Files the simulator hands out by URL, as the platform hands out OSS URLs (docs/protocol/remote-config.md, "The
 * file"): parse scripts (GetThingScript's ScriptUrl) and remote configuration files. Each URL is signed and
 * expires: `/files/{id}?Expires={epoch s}&Signature={hex HMAC-SHA256 of "{id}\n{Expires}"}` under a key made
 * when the simulator starts, so a URL cannot be guessed, changed or used after it expired.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const FILES_PREFIX = '/files/';

export interface ServedFile {
  status: number;
  body: Buffer;
  contentType: string;
}

export class FileStore {
  private readonly key = randomBytes(32);
  private readonly files = new Map<string, { body: Buffer; contentType: string }>();

  constructor(
    /** The HTTP listener's base URL, once it listens. */
    private readonly baseUrl: () => string | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** Stores `body` under `id` (replacing what was there) and returns a signed URL valid for `ttlSeconds`. */
  put(id: string, body: Buffer, contentType = 'application/octet-stream', ttlSeconds = 3600): string {
    this.files.set(id, { body, contentType });
    return this.url(id, ttlSeconds);
  }

  /** A fresh signed URL for a stored file. */
  url(id: string, ttlSeconds = 3600): string {
    const expires = Math.floor(this.now() / 1000) + ttlSeconds;
    const base = this.baseUrl() ?? 'http://127.0.0.1';
    return `${base}${FILES_PREFIX}${encodeURIComponent(id)}?Expires=${expires}&Signature=${this.sign(id, expires)}`;
  }

  /** Answers a GET on `/files/...`: 200 with the file, 403 for a bad or expired signature, 404 for none. */
  serve(path: string, query: URLSearchParams): ServedFile {
    const id = decodeURIComponent(path.slice(FILES_PREFIX.length));
    const expires = Number(query.get('Expires'));
    const given = Buffer.from(query.get('Signature') ?? '', 'utf8');
    const want = Buffer.from(Number.isInteger(expires) ? this.sign(id, expires) : '', 'utf8');
    const text = (s: string) => Buffer.from(s + '\n');
    if (given.length !== want.length || want.length === 0 || !timingSafeEqual(given, want)) {
      return { status: 403, body: text('signature does not match'), contentType: 'text/plain' };
    }
    if (expires * 1000 < this.now()) return { status: 403, body: text('URL expired'), contentType: 'text/plain' };
    const f = this.files.get(id);
    return f ? { status: 200, body: f.body, contentType: f.contentType } : { status: 404, body: text('no such file'), contentType: 'text/plain' };
  }

  private sign(id: string, expires: number): string {
    return createHmac('sha256', this.key).update(`${id}\n${expires}`).digest('hex');
  }
}
