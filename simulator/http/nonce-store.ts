/**
 * Remembers signature nonces for as long as a request carrying them could still pass the timestamp check,
 * so a replayed request is refused with SignatureNonceUsed. Injectable: tests replay captured vectors against
 * a fresh store.
 */
export interface NonceStore {
  /** Records the nonce; false when it was already recorded and has not expired. */
  claim(key: string, nowMs: number): boolean;
}

/**
 * In-memory store. Entries expire after `ttlMs`; past `maxEntries` the oldest are forgotten first, which bounds
 * memory at the price of accepting a replay of a nonce older than the newest `maxEntries` requests.
 */
export class MemoryNonceStore implements NonceStore {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  claim(key: string, nowMs: number): boolean {
    this.expire(nowMs);
    if (this.seen.has(key)) return false;
    this.seen.set(key, nowMs);
    if (this.seen.size > this.maxEntries) {
      const oldest = this.seen.keys().next();
      if (!oldest.done) this.seen.delete(oldest.value);
    }
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  // Map iteration follows insertion order, which is arrival order, so expired entries sit at the front.
  private expire(nowMs: number): void {
    for (const [key, at] of this.seen) {
      if (nowMs - at <= this.ttlMs) break;
      this.seen.delete(key);
    }
  }
}
