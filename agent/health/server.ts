/**
 * The optional local HTTP listener (config `health`, off by default): `GET /healthz` answers 200 with a small
 * JSON body while the agent is healthy and 503 with the reason otherwise; `GET /metrics` serves the agent's
 * Prometheus metrics. It binds 127.0.0.1 unless told otherwise: it is for a local scraper or a container's
 * health check, not for the network.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { HealthReport } from './connection';
import { HealthErrors } from './errors';
import type { AgentMetrics } from './metrics';

export interface HealthServerOptions {
  /** TCP port; 0 picks a free one (see the address {@link HealthServer.start} resolves with). */
  port: number;
  /** Default `127.0.0.1`. */
  host?: string;
  metrics: AgentMetrics;
  /** Asked on every /healthz request; a throw or rejection answers 503. */
  health: () => HealthReport | Promise<HealthReport>;
  logger: Logger;
}

/** Where the listener is. */
export interface HealthServerAddress {
  /** e.g. `http://127.0.0.1:9464` */
  url: string;
  host: string;
  port: number;
}

/** Local scrapers only: a handful of connections, and none kept waiting on a slow client. */
const MAX_CONNECTIONS = 16;
const REQUEST_TIMEOUT_MS = 5000;
const JSON_TYPE = 'application/json; charset=utf-8';

export class HealthServer {
  private server: Server | undefined;
  private bound: HealthServerAddress | undefined;
  private readonly logger: Logger;

  constructor(private readonly opts: HealthServerOptions) {
    this.logger = opts.logger.child({ component: 'health' });
  }

  /** The address while listening. */
  get address(): HealthServerAddress | undefined {
    return this.bound;
  }

  /** Listens; rejects with a {@link HealthError} (`HEALTH_LISTEN_FAILED`) when the address is taken or invalid. */
  async start(): Promise<HealthServerAddress> {
    if (this.bound) return this.bound;
    const host = this.opts.host ?? '127.0.0.1';
    const server = createServer({ requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: REQUEST_TIMEOUT_MS, keepAliveTimeout: REQUEST_TIMEOUT_MS }, (req, res) =>
      this.handle(req, res).catch((err: unknown) => {
        this.logger.error({ err }, 'health request failed');
        res.destroy();
      }),
    );
    server.maxConnections = MAX_CONNECTIONS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(HealthErrors.listenFailed(host, this.opts.port, err)));
      server.listen({ host, port: this.opts.port }, () => resolve());
    });
    server.on('error', (err) => this.logger.error({ err }, 'health listener error'));
    const port = (server.address() as AddressInfo).port;
    this.server = server;
    this.bound = { host, port, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}` };
    this.logger.info({ url: this.bound.url }, `health and metrics on ${this.bound.url}/healthz and /metrics`);
    return this.bound;
  }

  /** Closes the listener and every open connection. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.bound = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return this.send(req, res, 405, JSON_TYPE, JSON.stringify({ error: `method ${req.method} not allowed; use GET` }));
    }
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/healthz') return this.healthz(req, res);
    if (path === '/metrics') return this.metrics(req, res);
    return this.send(req, res, 404, JSON_TYPE, JSON.stringify({ error: `no such path: ${path}; try /healthz or /metrics` }));
  }

  private async healthz(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let report: HealthReport;
    try {
      report = await this.opts.health();
    } catch (err) {
      this.logger.error({ err }, 'health source threw');
      report = { healthy: false, reason: `health check failed: ${err instanceof Error ? err.message : String(err)}` };
    }
    const head = report.healthy ? { status: 'ok' } : { status: 'unhealthy', reason: report.reason ?? 'unhealthy' };
    // status and reason lead the body and cannot be overwritten by a detail of the same name
    const body = Object.assign({ ...head }, report.details, head);
    this.send(req, res, report.healthy ? 200 : 503, JSON_TYPE, JSON.stringify(body));
  }

  private async metrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const text = await this.opts.metrics.metrics();
      this.send(req, res, 200, this.opts.metrics.contentType, text);
    } catch (err) {
      this.logger.error({ err }, 'collecting metrics failed');
      this.send(req, res, 500, 'text/plain; charset=utf-8', `collecting metrics failed: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }

  private send(req: IncomingMessage, res: ServerResponse, status: number, type: string, body: string): void {
    res.statusCode = status;
    res.setHeader('Content-Type', type);
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}
