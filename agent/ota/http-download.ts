/**
 * One HTTP(S) attempt at the rest of a file (docs/protocol/ota.md, "HTTPS download"): a GET with
 * `Range: bytes={offset}-` once something is staged, streamed into the {@link StagedFile} with backpressure (one
 * block in memory, whatever the file's size). Node's own `http`/`https`: a plain GET with one header needs nothing
 * more, and the socket's idle timeout is the stall detector.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { StagedFile } from './staged-file';

/** The server answered with a status that says the URL is no good any more (a signed URL past its `Expires`). */
export class UrlRefusedError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}

/** A failure that another attempt will not cure (a size the notice did not announce, a status like 400). */
export class PermanentDownloadError extends Error {}

export interface AttemptOptions {
  url: string;
  /** The size the notice announced. */
  size: number;
  idleTimeoutMs: number;
  signal: AbortSignal;
  /** Every chunk received (metrics, throughput). */
  onBytes?: (n: number) => void;
}

const REFUSED = new Set([401, 403, 404, 410]);

/**
 * Downloads from `file.offset` to `size`. Resolves when the whole file is durable; rejects on a dropped or stalled
 * connection after flushing what arrived (so the next attempt starts after it), with {@link UrlRefusedError} for
 * an expired URL, {@link PermanentDownloadError} for what retrying cannot fix.
 */
export async function downloadAttempt(file: StagedFile, o: AttemptOptions): Promise<void> {
  if (file.offset === o.size) return;
  if (file.offset > o.size) await file.reset();
  const res = await get(o.url, file.offset, o.idleTimeoutMs, o.signal);
  try {
    await take(file, res, o);
  } finally {
    res.destroy();
  }
}

async function take(file: StagedFile, res: IncomingMessage, o: AttemptOptions): Promise<void> {
  const status = res.statusCode ?? 0;
  if (REFUSED.has(status)) throw new UrlRefusedError(status);
  if (status === 416) {
    // Nothing past our offset: the staged bytes are the whole file only if the sizes agree.
    throw new PermanentDownloadError(`HTTP 416 at offset ${file.offset} of ${o.size}`);
  }
  if (status >= 500) throw new Error(`HTTP ${status}`);
  if (status !== 200 && status !== 206) throw new PermanentDownloadError(`HTTP ${status}`);
  if (status === 206) {
    const start = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
    if (!start || Number(start[1]) !== file.offset) throw new PermanentDownloadError(`Content-Range ${String(res.headers['content-range'])} does not start at ${file.offset}`);
  } else if (file.offset > 0) {
    // The server ignored Range: the body is the whole file.
    await file.reset();
  }
  const declared = res.headers['content-length'];
  if (declared !== undefined && file.offset + Number(declared) !== o.size) {
    throw new PermanentDownloadError(`the server sends ${file.offset + Number(declared)} bytes, the notice announced ${o.size}`);
  }
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      if (file.received + chunk.length > o.size) throw new PermanentDownloadError(`more than the ${o.size} bytes the notice announced`);
      o.onBytes?.(chunk.length);
      await file.append(chunk);
    }
  } finally {
    // What arrived before a drop is good: keep it, so the next attempt resumes after it.
    await file.flush();
  }
  if (file.offset !== o.size) throw new Error(`connection closed at ${file.offset} of ${o.size} bytes`);
}

function get(url: string, offset: number, idleTimeoutMs: number, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const lib = url.startsWith('https:') ? https : http;
    const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
    const req = lib.get(url, { headers, signal }, resolve);
    req.setTimeout(idleTimeoutMs, () => req.destroy(new Error(`no data for ${idleTimeoutMs} ms (ota.idleTimeoutMs)`)));
    req.once('error', reject);
  });
}
