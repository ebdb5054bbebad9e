/**
 * Device → cloud requests of the state channels (desired get/delete) and their `_reply`, matched by Alink id
 * with a timeout. Sent at QoS 0: a request kept in the outbox across an outage would ask a stale question; the
 * channel asks again after the next connect instead.
 */
import { AlinkCodes } from '../../thing-model/codes';
import type { MessageIdGenerator } from '../../thing-model/wire';
import type { Uplink } from '../transport';
import { PendingReplies, type ParsedReply } from '../upstream/pending';

export class StateRequests {
  private readonly pending = new PendingReplies();

  constructor(
    private readonly uplink: Uplink,
    private readonly ids: MessageIdGenerator,
    private readonly timeoutMs: number,
  ) {}

  /** Publishes `{id, version, method, params}` on `topic`; resolves with the reply, rejects on timeout or a refused publish. */
  async request(topic: string, method: string, params: unknown): Promise<ParsedReply> {
    const id = this.ids.nextId();
    const replied = this.pending.wait(id, topic, this.timeoutMs);
    replied.catch(ignore);
    try {
      await this.uplink.publish(topic, JSON.stringify({ id, version: '1.0', method, params }), { qos: 0, messageClass: 'state' });
    } catch (err) {
      this.pending.fail(id, err as Error);
    }
    return replied;
  }

  /** A `_reply` of one of these requests; false when nothing waits for it. */
  handleReply(payload: Buffer): boolean {
    let r: unknown;
    try {
      r = JSON.parse(payload.toString('utf8'));
    } catch {
      return false;
    }
    if (r === null || typeof r !== 'object') return false;
    const o = r as { id?: unknown; code?: unknown };
    if (typeof o.id !== 'string' || typeof o.code !== 'number') return false;
    return this.pending.settle(r as ParsedReply);
  }
}

/** True for a 200 reply. */
export function succeeded(r: ParsedReply): boolean {
  return r.code === AlinkCodes.SUCCESS;
}

function ignore(): void {}
