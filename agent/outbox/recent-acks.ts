/**
 * Messages acknowledged a moment ago, kept in memory for the few seconds in which the platform may still refuse
 * them after the fact: a sub-device message the platform took (PUBACK) and then dropped with `/ext/error` 520,
 * because the sub-device's session was gone (docs/protocol/gateway.md, "Held messages"). The notice does not say
 * which message it was about, so everything acknowledged for that device within the window is sent again (QoS 1 is
 * at least once: a message the platform did take comes twice). Bounded in time, count and bytes, oldest out first.
 */
import type { OutboxRow } from './table';

/** How long an acknowledged message stays resendable: well past the round trip after which a 520 arrives. */
export const RECENT_ACK_MS = 3000;
/** Bounds whatever the traffic: the oldest entries leave first. */
export const RECENT_ACK_MAX = 8192;
export const RECENT_ACK_MAX_BYTES = 2 * 1024 * 1024;

interface Entry {
  key: string;
  row: OutboxRow;
  at: number;
}

export class RecentAcks {
  private entries: Array<Entry | undefined> = [];
  private head = 0;
  private bytes = 0;

  constructor(
    private readonly windowMs = RECENT_ACK_MS,
    private readonly max = RECENT_ACK_MAX,
    private readonly maxBytes = RECENT_ACK_MAX_BYTES,
  ) {}

  get size(): number {
    return this.entries.length - this.head;
  }

  /** Keeps `row`, acknowledged at `now`, under `key` (its device). */
  add(key: string, row: OutboxRow, now: number): void {
    this.entries.push({ key, row, at: now });
    this.bytes += row.size;
    this.trim(now);
  }

  /** Takes out and returns, oldest first, what was acknowledged under `key` within the window before `now`. */
  take(key: string, now: number): OutboxRow[] {
    this.trim(now);
    const out: OutboxRow[] = [];
    const kept: Entry[] = [];
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i] as Entry;
      if (e.key === key) {
        out.push(e.row);
        this.bytes -= e.row.size;
      } else kept.push(e);
    }
    if (out.length > 0) {
      this.entries = kept;
      this.head = 0;
    }
    return out;
  }

  private trim(now: number): void {
    const from = now - this.windowMs;
    while (this.head < this.entries.length) {
      const e = this.entries[this.head] as Entry;
      if (e.at >= from && this.size <= this.max && this.bytes <= this.maxBytes) break;
      this.bytes -= e.row.size;
      // Let go of the payload now, not at the next compaction.
      this.entries[this.head++] = undefined;
    }
    // Compact once the dead front is the larger half, so the array does not grow with the traffic.
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}
