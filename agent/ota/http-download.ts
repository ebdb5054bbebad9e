/**
 * One HTTP(S) attempt at the rest of a file (docs/protocol/ota.md, "HTTPS download"): a GET with
 * `Range: bytes={offset}-` once something is staged, streamed into the {@link StagedFile} with backpressure (two
 * blocks in memory at most, whatever the file's size). The body is read by ./http-client (one reused read buffer,
 * each read copied straight into the block: Node's `http` client and a `for await` over it cost more CPU than the
 * hash and the writes, docs/performance.md "OTA download"); a response that client does not read (chunked, no
 * Content-Length) is fetched again through Node's `http`, whose socket idle timeout is the same stall detector.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { get as fastGet } from './http-client';
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
  /** CA certificates (PEM) to trust instead of the system's: for tests against a local HTTPS server. */
  ca?: string | Buffer;
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
  const idleMessage = `no data for ${o.idleTimeoutMs} ms (ota.idleTimeoutMs)`;
  const onBody = (chunk: Buffer): Promise<void> | undefined => {
    if (file.received + chunk.length > o.size) throw new PermanentDownloadError(`more than the ${o.size} bytes the notice announced`);
    o.onBytes?.(chunk.length);
    return file.appendSync(chunk);
  };
  try {
    const how = await fastGet({
      url: o.url,
      offset: file.offset,
      idleTimeoutMs: o.idleTimeoutMs,
      idleMessage,
      signal: o.signal,
      ca: o.ca,
      onHead: (h) => checkHead(file, h.status, (name) => h.headers[name], o),
      onBody,
    });
    if (how === 'fallback') await nodeAttempt(file, o, idleMessage, onBody);
  } finally {
    // What arrived before a drop is good: keep it, so the next attempt resumes after it.
    await file.flush();
  }
  if (file.offset !== o.size) throw new Error(`connection closed at ${file.offset} of ${o.size} bytes`);
}

/** Throws for a status or a length that says the body is not the rest of this file; resets for a whole-file 200. */
async function checkHead(file: StagedFile, status: number, header: (name: string) => string | undefined, o: AttemptOptions): Promise<void> {
  if (REFUSED.has(status)) throw new UrlRefusedError(status);
  if (status === 416) {
    // Nothing past our offset: the staged bytes are the whole file only if the sizes agree.
    throw new PermanentDownloadError(`HTTP 416 at offset ${file.offset} of ${o.size}`);
  }
  if (status >= 500) throw new Error(`HTTP ${status}`);
  if (status !== 200 && status !== 206) throw new PermanentDownloadError(`HTTP ${status}`);
  if (status === 206) {
    const range = header('content-range');
    const start = /^bytes (\d+)-/.exec(range ?? '');
    if (!start || Number(start[1]) !== file.offset) throw new PermanentDownloadError(`Content-Range ${String(range)} does not start at ${file.offset}`);
  } else if (file.offset > 0) {
    // The server ignored Range: the body is the whole file.
    await file.reset();
  }
  const declared = header('content-length');
  if (declared !== undefined && file.offset + Number(declared) !== o.size) {
    throw new PermanentDownloadError(`the server sends ${file.offset + Number(declared)} bytes, the notice announced ${o.size}`);
  }
}

/** The attempt through Node's `http`, for the responses ./http-client leaves to it. */
async function nodeAttempt(file: StagedFile, o: AttemptOptions, idleMessage: string, onBody: (chunk: Buffer) => Promise<void> | undefined): Promise<void> {
  const res = await nodeGet(o, file.offset, idleMessage);
  try {
    const header = (name: string) => {
      const v = res.headers[name];
      return Array.isArray(v) ? v.join(', ') : v;
    };
    await checkHead(file, res.statusCode ?? 0, header, o);
    for await (const chunk of res as AsyncIterable<Buffer>) await onBody(chunk);
  } finally {
    res.destroy();
  }
}

function nodeGet(o: AttemptOptions, offset: number, idleMessage: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
    const req = o.url.startsWith('https:') ? https.get(o.url, { headers, signal: o.signal, ca: o.ca }, resolve) : http.get(o.url, { headers, signal: o.signal }, resolve);
    req.setTimeout(o.idleTimeoutMs, () => req.destroy(new Error(idleMessage)));
    req.once('error', reject);
  });
}
