/**
 * Reconnect delays: exponential backoff with full jitter. The ceiling doubles per failed attempt from
 * `initialMs` up to `maxMs`, and each delay is drawn uniformly below the ceiling, so that a fleet of gateways
 * that lost the broker together does not come back in lockstep. A floor keeps a lucky draw from hammering.
 */

export interface BackoffOptions {
  /** Ceiling of the first delay. */
  initialMs: number;
  /** Ceiling of every delay. */
  maxMs: number;
  /** Smallest delay ever returned; defaults to min(100, initialMs). */
  floorMs?: number;
  /** Uniform [0, 1); injectable so tests can pin the draw. */
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private readonly floorMs: number;
  private readonly random: () => number;

  constructor(private readonly opts: BackoffOptions) {
    this.floorMs = opts.floorMs ?? Math.min(100, opts.initialMs);
    this.random = opts.random ?? Math.random;
  }

  /** Failed attempts since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** The ceiling the next delay is drawn under. */
  ceiling(): number {
    // 2^attempt overflows to Infinity long after it passed maxMs; min() keeps it finite.
    return Math.min(this.opts.maxMs, this.opts.initialMs * 2 ** Math.min(this.attempt, 52));
  }

  /** The delay before the next attempt; counts one more failed attempt. */
  next(): number {
    const delay = Math.max(this.floorMs, Math.floor(this.random() * this.ceiling()));
    this.attempt += 1;
    return Math.min(delay, this.opts.maxMs);
  }

  /** After a stable connection: start again from `initialMs`. */
  reset(): void {
    this.attempt = 0;
  }
}
