/**
 * Downloads a remote configuration file over HTTP(S), bounded in size (refused as soon as it is known to be too
 * large: from Content-Length, or while reading) and in time (connect + transfer), and checks its SHA-256.
 */
import { createHash } from 'node:crypto';
import { RemoteConfigErrors } from './errors';

export interface DownloadBounds {
  maxBytes: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

export async function download(url: string, bounds: DownloadBounds): Promise<Buffer> {
  const signals = [AbortSignal.timeout(bounds.timeoutMs), ...(bounds.signal ? [bounds.signal] : [])];
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.any(signals), redirect: 'follow' });
  } catch (e) {
    throw RemoteConfigErrors.downloadFailed(url, reason(e, bounds.timeoutMs));
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel().catch(() => undefined);
    throw RemoteConfigErrors.downloadFailed(url, `HTTP ${res.status}`);
  }
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > bounds.maxBytes) {
    await res.body.cancel().catch(() => undefined);
    throw RemoteConfigErrors.tooLarge(declared, bounds.maxBytes);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > bounds.maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw RemoteConfigErrors.tooLarge(size, bounds.maxBytes);
      }
      chunks.push(Buffer.from(value));
    }
  } catch (e) {
    if ((e as { code?: string }).code === 'REMOTE_CONFIG_TOO_LARGE') throw e;
    throw RemoteConfigErrors.downloadFailed(url, reason(e, bounds.timeoutMs));
  }
  return Buffer.concat(chunks);
}

export function sha256Hex(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function reason(e: unknown, timeoutMs: number): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError') return `no complete answer within ${timeoutMs} ms (remoteConfig.downloadTimeoutMs)`;
  if (err.name === 'AbortError') return 'aborted (the agent is stopping)';
  return err.cause?.code ?? err.cause?.message ?? err.message ?? String(e);
}
