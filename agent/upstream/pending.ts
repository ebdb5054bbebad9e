/**
 * Requests waiting for the platform's `_reply`, keyed by Alink id. Every entry has a deadline and is removed
 * when it settles, however it settles (the official Node SDK keeps its callbacks forever, docs/protocol/sdk-faults.md, "Node SDK").
 * One timer serves all entries (armed for the earliest deadline), so a post costs no timer of its own; it is not
 * cancelled when the last entry settles (a post answered in a millisecond would otherwise cost a setTimeout and a
 * clearTimeout each), but fires once at its deadline, finds nothing due and re-arms only for what is left.
 */
import { UpstreamTimeoutError } from '../../handlers/api';

interface Entry {
  resolve(reply: ParsedReply): void;
  reject(err: Error): void;
  deadline: number;
  timeoutMs: number;
  topic: string;
  /** Set once the uplink accepted the message: a timeout then says it is still being delivered. */
  stored?: { durable: boolean };
}

/** A platform reply, envelope-checked. */
export interface ParsedReply {
  id: string;
  code: number;
  data: unknown;
  message?: string;
}

export class PendingReplies {
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Infinity;
  private readonly onTimer = () => this.expire();

  get size(): number {
    return this.entries.size;
  }

  /**
   * Registers `id` before anything is published, so that a fast reply cannot beat the registration
   * (the race of iotkit-embedded issue #153).
   */
  wait(id: string, topic: string, timeoutMs: number): Promise<ParsedReply> {
    const deadline = Date.now() + timeoutMs;
    return new Promise<ParsedReply>((resolve, reject) => {
      this.entries.set(id, { resolve, reject, deadline, timeoutMs, topic });
      if (deadline < this.armedFor) this.arm(deadline);
    });
  }

  /** Settles the entry for `reply.id`; false when nothing waits for it (late, duplicate or foreign). */
  settle(reply: ParsedReply): boolean {
    const e = this.entries.get(reply.id);
    if (!e) return false;
    this.entries.delete(reply.id);
    e.resolve(reply);
    return true;
  }

  /** The message of `id` was accepted by the uplink (`durable`: in the outbox, fsynced). */
  stored(id: string, durable: boolean): void {
    const e = this.entries.get(id);
    if (e) e.stored = { durable };
  }

  /** Fails one entry (e.g. the publish itself was refused). */
  fail(id: string, err: Error): void {
    const e = this.entries.get(id);
    if (!e) return;
    this.entries.delete(id);
    e.reject(err);
  }

  private expire(): void {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = Date.now();
    let next = Infinity;
    for (const [id, e] of this.entries) {
      if (e.deadline <= now) {
        this.entries.delete(id);
        e.reject(new UpstreamTimeoutError(id, e.topic, e.timeoutMs, e.stored !== undefined, e.stored?.durable ?? false));
      } else if (e.deadline < next) {
        next = e.deadline;
      }
    }
    if (next !== Infinity) this.arm(next);
  }

  private arm(deadline: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = deadline;
    this.timer = setTimeout(this.onTimer, Math.max(0, deadline - Date.now()));
    // A pending post must not keep a stopping process alive.
    this.timer.unref();
  }
}
