/**
 * systemd's watchdog (WatchdogSec=): the agent pings `WATCHDOG=1` every WATCHDOG_USEC/2, but only while it is
 * really working. A ping proves two things here: the event loop is responsive (a timer that fires late means
 * something blocked it; the ping due then is withheld) and the session is alive (connected or actively
 * reconnecting, as the `isAlive` callback says). A wedged agent thus misses its pings and systemd restarts it.
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
      /** Half the deadline, as sd_watchdog_enabled(3) advises. */
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
  return { enabled: true, watchdogUsec: usec, intervalMs: Math.max(1, Math.floor(usec / 2000)) };
}

export interface WatchdogOptions {
  /** Time between pings, normally {@link WatchdogSetting} `intervalMs`. */
  intervalMs: number;
  /** Sends `WATCHDOG=1`; must not throw. */
  ping: () => void;
  /** True while the session is connected or actively reconnecting. A throw counts as false. */
  isAlive: () => boolean;
  logger: Logger;
  /** A timer this late means the loop was blocked: the ping due is withheld. Default: `intervalMs`. */
  maxLagMs?: number;
  /** How often the loop is sampled for lag. Default: `intervalMs / 4`, within [10, 1000] ms. */
  sampleMs?: number;
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
  private readonly sampleMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private windowStart = 0;
  private windowMaxLag = 0;
  private expectedAt = 0;
  /** Whether pings are currently withheld because the session is not alive (logged on change only). */
  private dead = false;

  constructor(private readonly opts: WatchdogOptions) {
    if (!(opts.intervalMs > 0)) throw new RangeError(`intervalMs: expected a positive number, received ${opts.intervalMs}`);
    this.intervalMs = opts.intervalMs;
    this.maxLagMs = opts.maxLagMs ?? opts.intervalMs;
    this.sampleMs = opts.sampleMs ?? Math.min(1000, Math.max(10, Math.floor(opts.intervalMs / 4)));
    this.now = opts.now ?? monotonicMs;
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Pings at once (when alive), then every interval. */
  start(): void {
    if (this.timer) return;
    const t = this.now();
    this.windowStart = t;
    this.windowMaxLag = 0;
    this.decide(0);
    this.schedule(t);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(t: number): void {
    this.expectedAt = t + this.sampleMs;
    this.timer = setTimeout(() => this.tick(), this.sampleMs);
    // the watchdog watches the agent; it must never be what keeps the process alive
    this.timer.unref();
  }

  private tick(): void {
    const t = this.now();
    const lag = Math.max(0, t - this.expectedAt);
    this.windowMaxLag = Math.max(this.windowMaxLag, lag);
    this.stats.maxLagMs = Math.max(this.stats.maxLagMs, lag);
    // half a sample early rather than a whole sample late: keeps the cadence at the interval, not above it
    if (t - this.windowStart >= this.intervalMs - this.sampleMs / 2) {
      const windowLag = this.windowMaxLag;
      this.windowStart = t;
      this.windowMaxLag = 0;
      this.decide(windowLag);
    }
    this.schedule(t);
  }

  private decide(lagMs: number): void {
    if (lagMs > this.maxLagMs) {
      this.stats.withheldForLag++;
      this.opts.logger.warn(
        { lagMs: Math.round(lagMs), maxLagMs: this.maxLagMs },
        `watchdog ping withheld: the event loop was blocked for ${Math.round(lagMs)} ms (limit ${this.maxLagMs} ms)`,
      );
      return;
    }
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
