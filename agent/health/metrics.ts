/**
 * The agent's Prometheus metrics, in a registry of their own: every metric is created with
 * `registers: [this.registry]`, never prom-client's global registry, so two agents (or two tests) in one process
 * count separately.
 */
import { readdirSync } from 'node:fs';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { InboundKind, RouterObserver } from '../router/observer';
import type { SessionState } from '../session/session';

/** Every session state, for the state gauge's label values. */
export const CONNECTION_STATES: readonly SessionState[] = ['idle', 'connecting', 'connected', 'reconnecting', 'stopped'];

/**
 * Message kinds: downstream the router's {@link InboundKind}s (`propertySet`, `service`, `rrpc`, `customTopic`, ...);
 * upstream `property_post`, `event_post`, `reply` (answers to downstream requests) and others the agent names.
 * Label values are written in snake_case whichever way a kind is spelled: `propertySet` counts as `property_set`.
 */
export type MessageKind = InboundKind | 'property_post' | 'event_post' | 'reply' | (string & {});

export interface AgentMetricsOptions {
  /** Prefix of the agent's own metric names; default `alink_agent_`. */
  prefix?: string;
  /** Labels put on every series, e.g. `{ device: 'a1b2/gw-01' }`. */
  defaultLabels?: Record<string, string>;
  /** CPU, memory, heap, open files and start time of this process; default true. */
  processMetrics?: boolean;
  /**
   * Distinct values kept per label; later values are counted under `other`. A label fed from the wire (an Alink
   * code, a message kind) must not grow a series per value for months. Default 64.
   */
  maxLabelValues?: number;
}

const HANDLER_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const OVERFLOW_LABEL = 'other';
const MAX_LABEL_LENGTH = 64;

/** Bounds the values one label takes, and spells them in snake_case. */
class LabelBound {
  private readonly seen = new Set<string>();
  constructor(private readonly max: number) {}
  value(raw: string | number): string {
    const v = String(raw)
      .replace(/[a-z0-9][A-Z]/g, (pair) => `${pair[0]}_${pair[1]}`)
      .toLowerCase()
      .slice(0, MAX_LABEL_LENGTH);
    if (this.seen.has(v)) return v;
    if (this.seen.size >= this.max) return OVERFLOW_LABEL;
    this.seen.add(v);
    return v;
  }
}

/** The agent's metrics; also the router's {@link RouterObserver} (pass it as the agent's `observer`). */
export class AgentMetrics implements RouterObserver {
  /** This instance's registry; serve it with `registry.metrics()` and `registry.contentType`. */
  readonly registry = new Registry();
  private readonly prefix: string;
  private readonly connectionState: Gauge<'state'>;
  private readonly reconnects: Counter;
  private readonly messagesIn: Counter<'kind'>;
  private readonly messagesOut: Counter<'kind'>;
  private readonly rejections: Counter<'code'>;
  private readonly handlerSeconds: Histogram<'kind'>;
  private readonly rrpcBudgetMisses: Counter;
  private readonly outboxRows: Gauge;
  private readonly outboxBytes: Gauge;
  private readonly outboxDrops: Counter<'class' | 'reason'>;
  private readonly otaPercent: Gauge<'module'>;
  private readonly otaFailures: Counter<'module' | 'code'>;
  private readonly otaBytesIn: Counter;
  private readonly bounds: Record<'kind' | 'code' | 'class' | 'reason', LabelBound>;

  constructor(opts: AgentMetricsOptions = {}) {
    const p = (this.prefix = opts.prefix ?? 'alink_agent_');
    const registers = [this.registry];
    if (opts.defaultLabels) this.registry.setDefaultLabels(opts.defaultLabels);
    const max = opts.maxLabelValues ?? 64;
    this.bounds = { kind: new LabelBound(max), code: new LabelBound(max), class: new LabelBound(max), reason: new LabelBound(max) };

    this.connectionState = new Gauge({ name: `${p}connection_state`, help: 'The session state: 1 for the current state, 0 for the others.', labelNames: ['state'], registers });
    this.reconnects = new Counter({ name: `${p}reconnects_total`, help: 'Connection attempts after the connection was lost or refused.', registers });
    this.messagesIn = new Counter({ name: `${p}messages_in_total`, help: 'Messages received from the cloud, by kind.', labelNames: ['kind'], registers });
    this.messagesOut = new Counter({ name: `${p}messages_out_total`, help: 'Messages published to the cloud, by kind.', labelNames: ['kind'], registers });
    this.rejections = new Counter({ name: `${p}rejections_total`, help: 'Downstream requests answered with an Alink error code, by code.', labelNames: ['code'], registers });
    this.handlerSeconds = new Histogram({
      name: `${p}handler_duration_seconds`,
      help: 'Time from receiving a downstream request to having its reply ready, by kind.',
      labelNames: ['kind'],
      buckets: HANDLER_BUCKETS,
      registers,
    });
    this.rrpcBudgetMisses = new Counter({ name: `${p}rrpc_budget_misses_total`, help: 'RRPC requests not answered within the cloud time budget.', registers });
    this.outboxRows = new Gauge({ name: `${p}outbox_rows`, help: 'QoS 1 messages in the outbox waiting for a PUBACK.', registers });
    this.outboxBytes = new Gauge({ name: `${p}outbox_bytes`, help: 'Payload bytes in the outbox.', registers });
    this.outboxDrops = new Counter({
      name: `${p}outbox_drops_total`,
      help: 'Messages dropped from the outbox before the broker acknowledged them, by message class and reason.',
      labelNames: ['class', 'reason'],
      registers,
    });

    this.otaPercent = new Gauge({ name: `${p}ota_progress_percent`, help: 'Progress of the OTA job of each module (0..100).', labelNames: ['module'], registers });
    this.otaFailures = new Counter({ name: `${p}ota_failures_total`, help: 'OTA jobs that failed, by module and agent error code (docs/errors.md).', labelNames: ['module', 'code'], registers });
    this.otaBytesIn = new Counter({ name: `${p}ota_download_bytes_total`, help: 'Bytes of OTA packages downloaded.', registers });

    for (const state of CONNECTION_STATES) this.connectionState.set({ state }, state === 'idle' ? 1 : 0);
    if (opts.processMetrics ?? true) registerProcessMetrics(this.registry);
  }

  /** The content type of {@link metrics}' text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of every metric. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  messageIn(kind: MessageKind): void {
    this.messagesIn.inc({ kind: this.bounds.kind.value(kind) });
  }

  messageOut(kind: MessageKind): void {
    this.messagesOut.inc({ kind: this.bounds.kind.value(kind) });
  }

  /**
   * Sub-devices by state, read at scrape time: one series per state (six), never one per device, whatever the
   * gateway's size.
   */
  reportSubDevices(counts: () => Record<string, number>): void {
    new Gauge({
      name: `${this.prefix}sub_devices`,
      help: 'Sub-devices behind this gateway, by state (pending, loggingIn, online, offline, disabled, failed).',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        for (const [state, n] of Object.entries(counts())) this.set({ state }, n);
      },
    });
  }

  /** A downstream request answered with an Alink error code (e.g. 460, 6304). */
  rejection(code: number | string): void {
    this.rejections.inc({ code: this.bounds.code.value(code) });
  }

  observeHandler(kind: MessageKind, seconds: number): void {
    if (Number.isFinite(seconds) && seconds >= 0) this.handlerSeconds.observe({ kind: this.bounds.kind.value(kind) }, seconds);
  }

  /** {@link RouterObserver} spelling of {@link observeHandler}. */
  handlerDone(kind: MessageKind, seconds: number): void {
    this.observeHandler(kind, seconds);
  }

  /** Starts timing a handler; the returned function records and returns the seconds elapsed. */
  startHandler(kind: MessageKind): () => number {
    const start = process.hrtime.bigint();
    return () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      this.observeHandler(kind, seconds);
      return seconds;
    };
  }

  rrpcBudgetMiss(): void {
    this.rrpcBudgetMisses.inc();
  }

  setConnection(state: SessionState): void {
    for (const s of CONNECTION_STATES) this.connectionState.set({ state: s }, s === state ? 1 : 0);
  }

  reconnect(): void {
    this.reconnects.inc();
  }

  setOutboxDepth(rows: number, bytes: number): void {
    this.outboxRows.set(rows);
    this.outboxBytes.set(bytes);
  }

  otaProgress(module: string, percent: number): void {
    this.otaPercent.set({ module: this.bounds.kind.value(module) }, Math.floor(percent));
  }

  otaFailure(module: string, code: string): void {
    this.otaFailures.inc({ module: this.bounds.kind.value(module), code: this.bounds.code.value(code) });
  }

  otaBytes(n: number): void {
    this.otaBytesIn.inc(n);
  }

  /** A message the outbox gave up on: `cls` is its class (reply, property, event, custom), `reason` e.g. `ttl`, `overflow`. */
  outboxDrop(cls: string, reason: string): void {
    this.outboxDrops.inc({ class: this.bounds.class.value(cls), reason: this.bounds.reason.value(reason) });
  }
}

/**
 * A few process metrics read at scrape time. prom-client's collectDefaultMetrics is not used: each call starts an
 * event-loop monitor and a GC observer that can never be stopped, which a per-instance registry would pile up.
 */
function registerProcessMetrics(registry: Registry): void {
  const registers = [registry];
  let lastCpu = process.cpuUsage();
  const cpu = new Counter({
    name: 'process_cpu_seconds_total',
    help: 'User and system CPU time spent by this process, in seconds.',
    registers,
    collect() {
      const now = process.cpuUsage();
      const deltaMicros = now.user - lastCpu.user + (now.system - lastCpu.system);
      lastCpu = now;
      if (deltaMicros > 0) this.inc(deltaMicros / 1e6);
    },
  });
  // the CPU spent before this registry existed belongs to the process too
  cpu.inc((lastCpu.user + lastCpu.system) / 1e6);
  new Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    registers,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Gauge({
    name: 'nodejs_heap_used_bytes',
    help: 'V8 heap in use, in bytes.',
    registers,
    collect() {
      this.set(process.memoryUsage().heapUsed);
    },
  });
  const startSeconds = Math.round(Date.now() / 1000 - process.uptime());
  new Gauge({
    name: 'process_start_time_seconds',
    help: 'Start time of the process since the Unix epoch, in seconds.',
    registers,
    collect() {
      this.set(startSeconds);
    },
  });
  if (process.platform === 'linux') {
    new Gauge({
      name: 'process_open_fds',
      help: 'Open file descriptors.',
      registers,
      collect() {
        try {
          // minus the descriptor readdir itself holds open
          this.set(readdirSync('/proc/self/fd').length - 1);
        } catch {
          // /proc not mounted: leave the last value
        }
      },
    });
  }
}
