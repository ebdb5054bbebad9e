/**
 * The RPC-style OpenAPI endpoint: any path, POST (as the SDK sends) or GET. One request flows through
 * body read → decode → scheme and action → authentication → rate limit → the action's handler → response.
 * Every failure becomes the platform's error shape; nothing a client sends can throw out of here.
 */
import { randomUUID } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { ApiError, ApiErrors } from '../errors';
import { firstValues, parsePairs } from './params';
import { FILES_PREFIX, type FileStore, type ServedFile } from './files';
import { QpsLimiter } from './qps-limiter';
import { ResponseFormat, sendError, sendResult } from './respond';
import { AuthOptions, authenticate, detectScheme, requestedAction, SignedRequest } from './signature';

export const API_VERSION = '2018-01-20';

export interface CallContext {
  requestId: string;
  accessKeyId: string;
}

/** What the HTTP layer needs from the API actions. */
export interface ApiDispatcher {
  has(action: string): boolean;
  call(action: string, values: Map<string, string>, ctx: CallContext): Promise<Record<string, unknown>>;
}

export interface ApiHttpServerOptions {
  host: string;
  port: number;
  maxBodyBytes: number;
  maxHeaderBytes: number;
  throttleHttpStatus: number;
  auth: AuthOptions;
  limiter: QpsLimiter;
  dispatcher: ApiDispatcher;
  logger: Logger;
  /** Signed file URLs (parse scripts, remote configuration, firmware) answered on `GET|HEAD /files/...`. */
  files?: FileStore;
  /** Other non-API endpoints (the OTA upload), tried before the API. */
  routes?: HttpRoute[];
}

/** A non-API endpoint on the same listener. */
export interface HttpRoute {
  matches(method: string, path: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void>;
}

/** Writes a served file; with a drop fault, only its first bytes, then the socket is destroyed. */
function writeFile(res: ServerResponse, f: ServedFile, head: boolean): void {
  res.writeHead(f.status, { 'content-type': f.contentType, 'content-length': f.body.length, ...f.headers });
  const record = f.record;
  if (record) res.once('close', () => (record.complete = res.writableFinished));
  if (head) {
    res.end();
    return;
  }
  if (f.dropAfterBytes === undefined || f.dropAfterBytes >= f.body.length) {
    res.end(f.body);
    return;
  }
  res.write(f.body.subarray(0, f.dropAfterBytes), () => res.socket?.destroy());
}

export class BodyTooLarge extends Error {}

export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export class ApiHttpServer {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private hostId = '127.0.0.1';

  constructor(private readonly opts: ApiHttpServerOptions) {}

  /** Listens on `port` (a restart passes the port it had), else on the configured one. */
  async start(port = this.opts.port): Promise<string> {
    const server = createServer({ maxHeaderSize: this.opts.maxHeaderBytes, keepAlive: true }, (req, res) => {
      void this.handle(req, res);
    });
    // Longer than the SDK's idle sockets live, so the server never closes one the client is about to reuse.
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    server.on('connection', (s: Socket) => {
      s.setNoDelay(true);
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    server.on('clientError', (err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
      this.opts.logger.debug({ err: err.message }, 'malformed HTTP request');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const addr = server.address() as AddressInfo;
    this.hostId = `${this.opts.host}:${addr.port}`;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    return `http://${host}:${addr.port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID().toUpperCase();
    const started = performance.now();
    let format: ResponseFormat = 'JSON';
    let action = '';
    let accessKeyId: string | undefined;
    try {
      const method = req.method ?? '';
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      const rawQuery = q < 0 ? '' : url.slice(q + 1);
      if ((method === 'GET' || method === 'HEAD') && this.opts.files && path.startsWith(FILES_PREFIX)) {
        const range = req.headers.range;
        writeFile(res, this.opts.files.serve(path, new URLSearchParams(rawQuery), range, method === 'HEAD'), method === 'HEAD');
        return;
      }
      const route = this.opts.routes?.find((r) => r.matches(method, path));
      if (route) {
        await route.handle(req, res, path, new URLSearchParams(rawQuery));
        return;
      }
      if (method !== 'POST' && method !== 'GET') throw ApiErrors.unsupportedMethod(method);
      let body: Buffer;
      try {
        body = await readBody(req, this.opts.maxBodyBytes);
      } catch (e) {
        if (e instanceof BodyTooLarge) {
          res.setHeader('connection', 'close');
          throw ApiErrors.requestTooLarge(this.opts.maxBodyBytes);
        }
        throw e;
      }
      const queryPairs = parsePairs(rawQuery, 'query string');
      const isForm = (req.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');
      const formPairs = isForm ? parsePairs(body.toString('utf8'), 'request body') : [];
      const values = firstValues([...queryPairs, ...formPairs]);
      if ((values.get('Format') ?? '').toUpperCase() === 'XML') format = 'XML';

      const signed: SignedRequest = { method, path, headers: req.headers, body, queryPairs, formPairs };
      const scheme = detectScheme(signed);
      if (!scheme) {
        throw ApiErrors.incompleteSignature('expected an Authorization header (ACS3-HMAC-SHA256) or a Signature query parameter (v2), received neither');
      }
      const named = requestedAction(signed, scheme);
      action = named.action ?? '';
      if (!action) throw ApiErrors.missingParameter(scheme === 'ACS3-HMAC-SHA256' ? 'x-acs-action' : 'Action');
      if (!this.opts.dispatcher.has(action)) throw ApiErrors.invalidAction(action);
      if (named.version !== API_VERSION) throw ApiErrors.invalidVersion(named.version ?? '');

      const auth = authenticate(signed, scheme, this.opts.auth);
      accessKeyId = auth.accessKeyId;
      if (!this.opts.limiter.tryTake(auth.accessKeyId, action, performance.now())) {
        throw ApiErrors.throttled(action, this.opts.limiter.limitOf(action) ?? 0, this.opts.throttleHttpStatus);
      }
      const result = await this.opts.dispatcher.call(action, values, { requestId, accessKeyId: auth.accessKeyId });
      sendResult(res, format, action, requestId, result);
      if (this.opts.logger.isLevelEnabled('debug')) {
        this.opts.logger.debug({ action, requestId, accessKeyId, status: 200, ms: Math.round(performance.now() - started) }, 'api call');
      }
    } catch (e) {
      let err: ApiError;
      if (e instanceof ApiError) {
        err = e;
      } else {
        err = ApiErrors.internal();
        this.opts.logger.error({ action, requestId, err: (e as Error)?.message, stack: (e as Error)?.stack }, 'api call failed unexpectedly');
      }
      sendError(res, format, action, requestId, err, this.hostId);
      this.opts.logger.info(
        { action, requestId, accessKeyId, status: err.httpStatus, code: err.code, error: err.message, ms: Math.round(performance.now() - started) },
        'api call refused',
      );
    }
  }
}
