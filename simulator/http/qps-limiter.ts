/**
 * Per-account, per-action request rate limits (the seeds quote RRpc 1000 QPS and Pub 1600 QPS per account).
 * A token bucket per (account, action): capacity = the limit, refilled continuously, so a steady rate at the
 * limit passes and bursts above one second's worth are refused.
 */
export class QpsLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly limits: Readonly<Partial<Record<string, number>>>) {}

  limitOf(action: string): number | undefined {
    return this.limits[action];
  }

  /** Takes one token; false when the account is over the action's limit. */
  tryTake(account: string, action: string, nowMs: number): boolean {
    const qps = this.limits[action];
    if (qps === undefined) return true;
    const key = `${account}\n${action}`;
    let b = this.buckets.get(key);
    if (!b) this.buckets.set(key, (b = { tokens: qps, at: nowMs }));
    b.tokens = Math.min(qps, b.tokens + ((nowMs - b.at) * qps) / 1000);
    b.at = nowMs;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
