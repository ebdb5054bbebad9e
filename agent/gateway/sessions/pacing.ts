/**
 * Chunking and pacing of sub-device requests (docs/protocol/gateway.md): topology changes go in chunks of at most
 * TOPO_BATCH_MAX and batch logins in chunks of at most LOGIN_BATCH_MAX, and logins are paced so that no window of
 * one second holds more than the configured number (the platform allows SUB_LOGINS_PER_SECOND_MAX).
 */

/** Splits `items` into consecutive chunks of at most `size` (size ≥ 1), in order. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`chunk size: expected an integer ≥ 1, received ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * The login batch size to use: the largest size up to `max` whose whole batches fill a window of `perWindow` the most
 * (docs/protocol/gateway.md, "Limits and pacing"). A batch is sent whole or waits, so batches of 50 under 180 per
 * second leave 30 of every window unused (2,000 devices in 13.3 s instead of 11.1 s); batches of 45 fill it. Sizes
 * below half of `max` are not considered.
 */
export function windowFillingSize(max: number, perWindow: number): number {
  if (max >= perWindow) return perWindow;
  let best = max;
  let filled = Math.floor(perWindow / max) * max;
  // No smaller than half of `max`: a prime rate would otherwise pick batches of 1, many more messages for little.
  for (let size = max - 1; size >= Math.ceil(max / 2) && filled < perWindow; size--) {
    const f = Math.floor(perWindow / size) * size;
    if (f > filled) [best, filled] = [size, f];
  }
  return best;
}

/**
 * A sliding one-second window: `reserve(n)` says how long to wait before sending `n` more, so that every window
 * of `windowMs` holds at most `perWindow`. A request larger than `perWindow` is refused (chunk it first).
 */
export class RateWindow {
  /** Sends still inside the window: [time, count], oldest first. */
  private readonly sent: Array<[number, number]> = [];

  constructor(
    private readonly perWindow: number,
    private readonly now: () => number = Date.now,
    private readonly windowMs = 1000,
  ) {
    if (!Number.isInteger(perWindow) || perWindow < 1) throw new RangeError(`rate: expected an integer ≥ 1, received ${perWindow}`);
  }

  /** Reserves `n` sends and returns the delay in ms before they may go (0 = now). */
  reserve(n: number): number {
    if (n > this.perWindow) throw new RangeError(`${n} sends exceed the ${this.perWindow} allowed per ${this.windowMs} ms`);
    const now = this.now();
    let at = now;
    // The earliest time at which what is still in the window, plus n, fits.
    for (;;) {
      let inWindow = 0;
      let oldestInWindow: number | undefined;
      for (const [t, c] of this.sent) {
        if (t > at - this.windowMs) {
          inWindow += c;
          oldestInWindow ??= t;
        }
      }
      if (inWindow + n <= this.perWindow || oldestInWindow === undefined) break;
      at = oldestInWindow + this.windowMs;
    }
    while (this.sent.length > 0 && (this.sent[0] as [number, number])[0] <= now - this.windowMs) this.sent.shift();
    this.sent.push([at, n]);
    return at - now;
  }

  /** Waits until `n` sends may go; rejects with the signal's reason when aborted. */
  async take(n: number, signal?: AbortSignal): Promise<void> {
    const delay = this.reserve(n);
    if (delay <= 0) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(done, delay);
      function done() {
        signal?.removeEventListener('abort', abort);
        resolve();
      }
      function abort() {
        clearTimeout(timer);
        reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      }
      signal?.addEventListener('abort', abort, { once: true });
    });
  }
}
