/**
 * A minimal HTTP/1.1 GET for firmware bodies (docs/performance.md, "OTA download"): one request per connection,
 * read with `onread` into one reused 1 MiB buffer and handed to the caller synchronously. Node's `http` client
 * allocates a Buffer per 64 KiB read, runs each through its parser and a stream, and a `for await` adds a promise
 * per chunk: measured, that path costs more CPU than the hash and the writes together, and on two cores the CPU is
 * what bounds the download. This client handles only what OSS and the simulator send, an identity body with a
 * Content-Length; anything else (chunked, no length, a 1xx, a head it cannot read) is reported as `'fallback'`
 * before any body byte is delivered, and the caller repeats the attempt through Node's `http`.
 */
import net from 'node:net';
import tls from 'node:tls';

/** A response's status line and headers, names lower-cased, repeated headers joined with ", ". */
export interface ResponseHead {
  status: number;
  headers: Record<string, string>;
}

export interface GetOptions {
  url: string;
  /** Sends `Range: bytes={offset}-` when above 0. */
  offset: number;
  /** The connection is dropped after this long without a byte (not counted while the caller holds a chunk). */
  idleTimeoutMs: number;
  /** The message of the error the idle timeout raises. */
  idleMessage: string;
  signal: AbortSignal;
  /** CA certificates (PEM) to trust instead of the system's: for tests. */
  ca?: string | Buffer;
  /** The head of a response whose body will follow; a rejection ends the request with it. */
  onHead(head: ResponseHead): Promise<void>;
  /**
   * Body bytes, in order. `chunk` is a read buffer itself, reused by later reads: the bytes must be taken before
   * returning, or a promise returned; then nothing is read into that buffer, nor delivered, until it settles.
   */
  onBody(chunk: Buffer): Promise<void> | undefined;
}

/** The most a response head may take. Node's own parser has the same default limit. */
export const MAX_HEAD_BYTES = 16 * 1024;
const READ_BUFFER_BYTES = 1024 * 1024;
const USER_AGENT = 'alink-agent';

/**
 * Sends the GET and delivers the body. Resolves `'ended'` once the connection is over (the whole Content-Length
 * delivered, or closed short of it: the caller compares what it got), `'fallback'` when the response is not one
 * this client reads (nothing delivered, nothing handed to `onHead`). Rejects on a connection error, the idle
 * timeout, an abort, or an `onHead`/`onBody` failure; never before a promise `onBody` returned has settled.
 */
export function get(o: GetOptions): Promise<'ended' | 'fallback'> {
  const url = new URL(o.url);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return Promise.reject(new Error(`url: expected http: or https:, received ${url.protocol}`));
  if (o.signal.aborted) return Promise.reject(abortError(o.signal));
  return new Promise((resolve, reject) => {
    let head: Buffer | undefined = Buffer.alloc(0);
    let remaining = 0;
    /** The caller (or the head check) holds bytes: a promise is pending, and what arrives meanwhile is queued. */
    let waiting = false;
    let pending: Promise<void> | undefined;
    /** The read buffer those bytes are in, which the next read must not use. */
    let held: Uint8Array | undefined;
    /**
     * Bytes that arrived while waiting, copied. A TLS socket keeps calling back after readStop with the records it
     * has already decrypted (up to 16 KiB each), into the next read buffer: only plain TCP stops at once.
     */
    const backlog: Buffer[] = [];
    let closed = false;
    let over = false;

    const end = (result: 'ended' | 'fallback' | Error) => {
      if (over) return;
      over = true;
      o.signal.removeEventListener('abort', onAbort);
      socket.destroy();
      const settle = () => (typeof result === 'string' ? resolve(result) : reject(result));
      // The caller may still be taking a chunk: it settles first, and its own error wins.
      if (pending) pending.then(settle, reject);
      else settle();
    };
    const onAbort = () => end(abortError(o.signal));

    /** Pauses the socket until `wait` settles, then goes on with what was queued meanwhile. */
    const hold = (buf: Uint8Array | undefined, wait: Promise<void>, then: () => void) => {
      waiting = true;
      held = buf;
      pending = wait;
      socket.setTimeout(0);
      socket.pause();
      const release = () => {
        waiting = false;
        held = undefined;
        pending = undefined;
      };
      wait.then(
        () => {
          release();
          if (!over) then();
        },
        (e: unknown) => {
          release();
          end(e as Error);
        },
      );
    };
    const proceed = () => {
      for (;;) {
        if (over) return;
        if (remaining === 0) return end('ended');
        const next = backlog.shift();
        if (!next) {
          if (closed) return end('ended');
          socket.setTimeout(o.idleTimeoutMs);
          socket.resume();
          return;
        }
        if (!deliver(next, undefined)) return;
      }
    };

    /** Hands body bytes on; false when reading must not go on (the caller holds them, or the body is done). */
    const deliver = (bytes: Buffer, buf: Uint8Array | undefined): boolean => {
      const take = bytes.length > remaining ? bytes.subarray(0, remaining) : bytes;
      remaining -= take.length;
      let wait: Promise<void> | undefined;
      try {
        wait = take.length > 0 ? o.onBody(take) : undefined;
      } catch (e) {
        end(e as Error);
        return false;
      }
      if (wait) {
        hold(buf, wait, proceed);
        return false;
      }
      if (remaining === 0) {
        end('ended');
        return false;
      }
      return true;
    };

    const readHead = (bytes: Buffer, buf: Uint8Array): boolean => {
      const seen = head!.length;
      head = Buffer.concat([head!, bytes]);
      const at = head.indexOf('\r\n\r\n', Math.max(0, seen - 3), 'latin1');
      if (at < 0) {
        if (head.length > MAX_HEAD_BYTES) end(new Error(`response head: expected at most ${MAX_HEAD_BYTES} bytes, received ${head.length} without its end`));
        return !over;
      }
      if (at > MAX_HEAD_BYTES) {
        end(new Error(`response head: expected at most ${MAX_HEAD_BYTES} bytes, received ${at}`));
        return false;
      }
      const parsed = parseHead(head.subarray(0, at).toString('latin1'));
      head = undefined;
      if (!parsed) {
        end('fallback');
        return false;
      }
      remaining = parsed.length;
      // Body bytes that came with the head stay where they are, in the held read buffer, until the check is done.
      const rest = bytes.subarray(at + 4 - seen);
      hold(buf, o.onHead(parsed.head), () => {
        if (rest.length === 0 || remaining === 0 || deliver(rest, buf)) proceed();
      });
      return false;
    };

    const buffers: Buffer[] = [Buffer.allocUnsafe(READ_BUFFER_BYTES)];
    const onread = {
      // Called before each read: any buffer but the held one (the second is allocated when first needed).
      buffer: () => (held === buffers[0] ? (buffers[1] ??= Buffer.allocUnsafe(READ_BUFFER_BYTES)) : buffers[0]!),
      callback: (n: number, buf: Uint8Array): boolean => {
        if (over) return false;
        const bytes = Buffer.from(buf.buffer, buf.byteOffset, n);
        if (waiting) {
          backlog.push(Buffer.from(bytes));
          return false;
        }
        return head ? readHead(bytes, buf) : deliver(bytes, buf);
      },
    };
    const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const socket =
      url.protocol === 'https:'
        ? // tls.connect takes `onread` (Node's docs, tls.connect options); @types/node leaves it out.
          tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ca: o.ca, rejectUnauthorized: true, onread } as tls.ConnectionOptions & { onread: net.OnReadOpts })
        : net.connect({ host, port, onread });
    socket.setTimeout(o.idleTimeoutMs, () => end(new Error(o.idleMessage)));
    socket.on('error', (e) => end(e));
    socket.once('close', () => {
      if (head) end(new Error(`connection closed before the response head (${head.length} bytes of it)`));
      else if (waiting) closed = true;
      else end('ended');
    });
    o.signal.addEventListener('abort', onAbort, { once: true });
    const range = o.offset > 0 ? `Range: bytes=${o.offset}-\r\n` : '';
    socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n${range}User-Agent: ${USER_AGENT}\r\nConnection: close\r\n\r\n`, 'latin1');
  });
}

/** The head, with the body's length; undefined for what this client leaves to Node's `http`. */
export function parseHead(text: string): { head: ResponseHead; length: number } | undefined {
  const lines = text.split('\r\n');
  const statusLine = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0]!);
  if (!statusLine) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/.exec(line);
    if (!m) return undefined;
    const name = m[1]!.toLowerCase();
    headers[name] = headers[name] === undefined ? m[2]! : `${headers[name]}, ${m[2]!}`;
  }
  const status = Number(statusLine[1]);
  const length = headers['content-length'];
  // 1xx: informational heads come before the real one, which Node's parser skips to.
  const informational = status < 200;
  if (informational || headers['transfer-encoding'] !== undefined || length === undefined || !/^\d+$/.test(length)) return undefined;
  return { head: { status, headers }, length: Number(length) };
}

function abortError(signal: AbortSignal): Error {
  const e = new Error('The operation was aborted', { cause: signal.reason });
  e.name = 'AbortError';
  return e;
}
