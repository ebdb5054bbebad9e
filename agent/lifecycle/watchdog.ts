/**
 * systemd's watchdog (WatchdogSec=): the agent pings `WATCHDOG=1` every WATCHDOG_USEC/4, but only while it is
 * really working. A ping proves two things here: the event loop is responsive at the moment of the ping, and the
 * session is alive (connected or actively reconnecting, as the `isAlive` callback says). A wedged agent thus
 * misses its pings and systemd restarts it.
 *
 * Responsive means "responsive now", not "never blocked since the last ping": a stall that is over is no reason
 * to withhold a ping. When the tick that is due fires late (the loop just came out of a stall, or is still in a
 * run of them), the ping waits for a short probe timer; when that one fires on time the loop is free and the ping
 * goes out at once. A gap between two pings is thus at most interval + stall + one probe, which is why the
 * interval is a quarter of the deadline rather than the half sd_watchdog_enabled(3) suggests: a stall of 0.6 ×
 * WatchdogSec, wherever it starts, still leaves no gap longer than WatchdogSec.
 */
import type { Logger } from 'pino';
import { LifecycleError, LifecycleErrors } from './errors';
import type { Env } from './notifier';

/** Whether this process should ping, and how often. */
export type WatchdogSetting =
  | {
      enabled: true;
      /** WATCHDOG_USEC: systemd's deadline between two pings. */
      watchdogUsec: number;
      /** A quarter of the deadline (see the header: a stall of up to about 0.7 × the deadline is survived). */
      intervalMs: number;
    }
  | { enabled: false; reason: string; error?: LifecycleError };

/** Reads WATCHDOG_USEC and WATCHDOG_PID (sd_watchdog_enabled(3)) for the process `pid`. */
export function watchdogFromEnv(env: Env, pid: number): WatchdogSetting {
  const raw = env.WATCHDOG_USEC;
  if (raw === undefined || raw === '') return { enabled: false, reason: 'WATCHDOG_USEC is not set' };
  const usec = Number(raw);
  if (!/^[0-9]+$/.test(raw) || usec === 0 || !Number.isSafeInteger(usec)) {
    const error = LifecycleErrors.watchdogEnvInvalid('WATCHDOG_USEC', raw);
    return { enabled: false, reason: error.message, error };
  }
  const owner = env.WATCHDOG_PID;
  if (owner !== undefined && owner !== '' && owner !== String(pid)) {
    return { enabled: false, reason: `WATCHDOG_PID=${owner} names another process (this one is ${pid})` };
  }
  return { enabled: true, watchdogUsec: usec, intervalMs: Math.max(1, Math.floor(usec / 4000)) };
}

export interface WatchdogOptions {
  /** Time between pings, normally {@link WatchdogSetting} `intervalMs`. */
  intervalMs: number;
  /** Sends `WATCHDOG=1`; must not throw. */
  ping: () => void;
  /** True while the session is connected or actively reconnecting. A throw counts as false. */
  isAlive: () => boolean;
  logger: Logger;
  /**
   * A timer later than this means the loop is not responsive at that moment: the ping due waits for a probe
   * timer that fires on time. Default: `sampleMs`.
   */
  maxLagMs?: number;
  /** The delay of the probe timer that re-checks the loop after a late tick. Default: 5 ms. */
  probeMs?: number;
  /** Monotonic clock in ms. */
  now?: () => number;
}

/** Counters for tests and metrics. */
export interface WatchdogStats {
  pings: number;
  withheldForLag: number;
  withheldForLiveness: number;
  /** The largest timer lag seen, in ms. */
  maxLagMs: number;
}

const monotonicMs = () => Number(process.hrtime.bigint() / 1000n) / 1000;

export class Watchdog {
  readonly stats: WatchdogStats = { pings: 0, withheldForLag: 0, withheldForLiveness: 0, maxLagMs: 0 };
  private readonly intervalMs: number;
  private readonly maxLagMs: number;
  private readonly probeMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private expectedAt = 0;
  /** Whether the last check found the loop late (the warning is logged once per stall, not per probe). */
  private lagging = false;
  /** Whether pings are currently withheld because the session is not alive (logged on change only). */
  private dead = false;

  constructor(private readonly opts: WatchdogOptions) {
    if (!(opts.intervalMs > 0)) throw new RangeError(`intervalMs: expected a positive number, received ${opts.intervalMs}`);
    this.intervalMs = opts.intervalMs;
    this.maxLagMs = opts.maxLagMs ?? Math.min(1000, Math.max(10, Math.floor(opts.intervalMs / 4)));
    this.probeMs = opts.probeMs ?? 5;
    this.now = opts.now ?? monotonicMs;
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Pings at once (when alive), then every interval. */
  start(): void {
    if (this.timer) return;
    this.decide(this.now(), 0);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(t: number, delayMs: number): void {
    this.expectedAt = t + delayMs;
    this.timer = setTimeout(() => this.tick(), delayMs);
    // the watchdog watches the agent; it must never be what keeps the process alive
    this.timer.unref();
  }

  private tick(): void {
    const t = this.now();
    const lag = Math.max(0, t - this.expectedAt);
    this.stats.maxLagMs = Math.max(this.stats.maxLagMs, lag);
    this.decide(t, lag);
  }

  /** At a due ping: `lagMs` is how late the timer that brought us here fired. */
  private decide(t: number, lagMs: number): void {
    if (lagMs > this.maxLagMs) {
      // The loop was not free when this ping fell due; it may be now. A probe that fires on time says so.
      this.stats.withheldForLag++;
      if (!this.lagging) {
        this.lagging = true;
        this.opts.logger.warn(
          { lagMs: Math.round(lagMs), maxLagMs: this.maxLagMs },
          `watchdog ping withheld: the event loop was blocked for ${Math.round(lagMs)} ms (limit ${this.maxLagMs} ms); pinging again as soon as it is responsive`,
        );
      }
      this.schedule(t, this.probeMs);
      return;
    }
    this.lagging = false;
    this.schedule(t, this.intervalMs);
    if (!this.alive()) {
      this.stats.withheldForLiveness++;
      if (!this.dead) {
        this.dead = true;
        this.opts.logger.warn('watchdog pings withheld: the session is neither connected nor reconnecting; systemd restarts the agent when WatchdogSec passes without one');
      }
      return;
    }
    if (this.dead) {
      this.dead = false;
      this.opts.logger.info('watchdog pings resumed: the session is alive again');
    }
    this.stats.pings++;
    this.opts.ping();
  }

  private alive(): boolean {
    try {
      return this.opts.isAlive() === true;
    } catch (err) {
      this.opts.logger.error({ err }, 'watchdog: isAlive() threw; counted as not alive');
      return false;
    }
  }
}
