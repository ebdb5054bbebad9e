/**
 * Counts what the agent sends, by kind. The router and the upstream API publish through one `Uplink`; putting the
 * count there covers replies, property and event posts, RRPC answers and custom topics without the router knowing
 * about metrics.
 */
import type { MessageClass, PublishOptions, PublishReceipt, Uplink } from '../transport';

/** The part of `AgentMetrics` this needs. */
export interface MessageOutCounter {
  messageOut(kind: string): void;
}

/** Message classes as metric kinds: upstream posts are named for what they are on the wire. */
const KIND_OF_CLASS: Readonly<Record<string, string>> = {
  property: 'property_post',
  event: 'event_post',
  reply: 'reply',
  rrpc: 'rrpc_response',
  custom: 'custom',
};

export function kindOfClass(cls: MessageClass | undefined): string {
  return KIND_OF_CLASS[cls ?? 'custom'] ?? cls ?? 'custom';
}

const ignore = () => undefined;

/**
 * An `Uplink` that counts a message once it has left: on its PUBACK (QoS 1) or once written (QoS 0). A message
 * refused, dropped from the outbox or still waiting when the agent stops is not counted as out.
 */
export class MeteredUplink implements Uplink {
  constructor(
    private readonly inner: Uplink,
    private readonly counter: MessageOutCounter,
  ) {}

  async publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<PublishReceipt> {
    const receipt = await this.inner.publish(topic, payload, opts);
    const kind = kindOfClass(opts.messageClass);
    // A branch of its own: the caller's handling of `acked` (or its lack) stays exactly as without the count.
    receipt.acked.then(() => this.counter.messageOut(kind), ignore);
    return receipt;
  }
}
