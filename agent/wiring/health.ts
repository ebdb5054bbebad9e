/**
 * The agent's health in one place: the connection's state (what /healthz, the systemd watchdog and the STATUS=
 * line read), the Prometheus metrics fed from the session and the outbox, and the optional local HTTP listener.
 */
import type { Logger } from 'pino';
// Module by module, not the index: the index loads prom-client (~40 ms and several MB), which an agent without
// metrics never needs (see `loadMetrics`).
import { ConnectionHealth, type HealthReport } from '../health/connection';
import type { AgentMetrics } from '../health/metrics';
// The listener (node:http) only when `health.enabled`: most gateways run without it.
import type { HealthServer, HealthServerAddress } from '../health/server';
import type { HealthSection } from '../config/schema';
import type { SessionStateChange } from '../session/session';
import type { OutboxDepth } from './stores';
import type { ClockStatus } from '../clock/clock';

export interface AgentHealthOptions {
  brokerUrl: string;
  /** The `health` section: the listener runs only when `enabled`. */
  health: HealthSection;
  logger: Logger;
  /** Where to count (see {@link loadMetrics}); without it nothing is counted and no listener is started. */
  metrics?: AgentMetrics;
  /** The outbox's depth; undefined when there is no outbox. */
  depth?: () => OutboxDepth | undefined;
  /** The clock's NTP status, reported in /healthz (a far-off system clock is said there). */
  clock?: () => ClockStatus;
  /** How often the outbox depth gauges are refreshed; default 1 s. */
  depthIntervalMs?: number;
}

const DEFAULT_DEPTH_INTERVAL_MS = 1000;

/** The metrics an agent counts in: `given`, else a registry of its own when `health.enabled`, else none. */
export async function loadMetrics(health: HealthSection, given?: AgentMetrics): Promise<AgentMetrics | undefined> {
  if (given || !health.enabled) return given;
  const { AgentMetrics: Metrics } = await import('../health/metrics');
  return new Metrics();
}

export class AgentHealth {
  readonly connection: ConnectionHealth;
  readonly metrics: AgentMetrics | undefined;
  private server: HealthServer | undefined;
  private depthTimer: NodeJS.Timeout | undefined;
  private ota: (() => unknown) | undefined;
  private gateway: (() => { configured: number; byState: Record<string, number> }) | undefined;

  constructor(private readonly opts: AgentHealthOptions) {
    this.connection = new ConnectionHealth({ brokerUrl: opts.brokerUrl });
    this.metrics = opts.metrics;
  }

  /** Where /healthz and /metrics listen, while they do. */
  get address(): HealthServerAddress | undefined {
    return this.server?.address;
  }

  /** The outbox's pending messages, when there is an outbox. */
  outboxPending(): number | undefined {
    return this.opts.depth?.()?.rows;
  }

  /** Records a session state change; pass every `state` event of the session. */
  follow(change: SessionStateChange): void {
    this.connection.update(change);
    const m = this.metrics;
    if (!m) return;
    m.setConnection(change.state);
    // Each `reconnecting` event announces one more attempt (the session emits it per failed attempt).
    if (change.state === 'reconnecting') m.reconnect();
  }

  /**
   * Adds the sub-devices by state to /healthz and /metrics (the gateway is built after the health), and to /healthz
   * the sub-devices with an OTA job or failure (`ota`: read per request, not per metrics scrape).
   */
  reportGateway(status: () => { configured: number; byState: Record<string, number> }, ota?: () => unknown): void {
    this.gateway = ota ? () => ({ ...status(), ota: ota() }) : status;
    this.metrics?.reportSubDevices(() => status().byState);
  }

  /** Adds the OTA jobs' state to /healthz (the OTA client is built after the health). */
  reportOta(status: () => unknown): void {
    this.ota = status;
  }

  /** What /healthz answers: the connection's report, with the outbox depth beside it. */
  report(): HealthReport {
    const r = this.connection.report();
    const pending = this.outboxPending();
    const clock = this.opts.clock?.();
    return { ...r, details: { ...r.details, ...(pending === undefined ? {} : { outboxPending: pending }), ...(clock ? { clock } : {}), ...(this.ota ? { ota: this.ota() } : {}), ...(this.gateway ? { subDevices: this.gateway() } : {}) } };
  }

  /**
   * Starts the depth refresh and, when `health.enabled`, the listener. Rejects with the listener's
   * `HEALTH_LISTEN_FAILED` (the depth refresh keeps running; `stop()` ends it).
   */
  async start(): Promise<HealthServerAddress | undefined> {
    const metrics = this.metrics;
    const depth = this.opts.depth;
    if (metrics && depth && !this.depthTimer) {
      const refresh = () => {
        const d = depth();
        if (d) metrics.setOutboxDepth(d.rows, d.bytes);
      };
      refresh();
      this.depthTimer = setInterval(refresh, this.opts.depthIntervalMs ?? DEFAULT_DEPTH_INTERVAL_MS);
      this.depthTimer.unref();
    }
    const h = this.opts.health;
    if (!h.enabled || !metrics || this.server) return this.server?.address;
    const { HealthServer: Server } = await import('../health/server');
    const server = new Server({ host: h.host, port: h.port, metrics, health: () => this.report(), logger: this.opts.logger });
    this.server = server;
    try {
      return await server.start();
    } catch (err) {
      this.server = undefined;
      throw err;
    }
  }

  /** Stops the listener (open connections included) and the depth refresh. */
  async stop(): Promise<void> {
    clearInterval(this.depthTimer);
    this.depthTimer = undefined;
    const server = this.server;
    this.server = undefined;
    await server?.stop();
  }
}
