/**
 * The session's subscription bookkeeping, without a client: the topic filters it keeps subscribed (each at the
 * highest QoS asked for), what the current connection already has, and what a SUBACK refused.
 */

/** A topic filter to subscribe. QoS 2 is not supported by the platform. */
export interface Subscription {
  topic: string;
  qos: 0 | 1;
}

export type TopicQos = [topic: string, qos: 0 | 1];

const EXT_RRPC_PREFIX = '/ext/rrpc/';

export class SubscriptionBook {
  private readonly desired = new Map<string, 0 | 1>();
  /** What the current connection is subscribed to. */
  private subscribed = new Map<string, 0 | 1>();

  /** Adds filters to keep subscribed; a filter asked for again keeps the higher QoS. */
  add(subs: readonly Subscription[]): void {
    for (const s of subs) {
      const had = this.desired.get(s.topic);
      if (had === undefined || had < s.qos) this.desired.set(s.topic, s.qos);
    }
  }

  /** The filters kept subscribed. */
  list(): Subscription[] {
    return [...this.desired].map(([topic, qos]) => ({ topic, qos }));
  }

  topics(): string[] {
    return [...this.desired.keys()];
  }

  get size(): number {
    return this.desired.size;
  }

  /** True when an `/ext/rrpc/` filter is wanted: the client id must then carry `ext=1`. */
  wantsExtRrpc(): boolean {
    for (const t of this.desired.keys()) if (t.startsWith(EXT_RRPC_PREFIX)) return true;
    return false;
  }

  /**
   * A new connection. A kept session (`sessionPresent`) still has the old subscriptions, except on the first
   * connection of this process: what this run needs may differ from what the last run left behind.
   */
  newConnection(sessionPresent: boolean, firstOfProcess: boolean): void {
    this.subscribed = sessionPresent && !firstOfProcess ? new Map(this.desired) : new Map();
  }

  /** Filters the current connection lacks (or has at a lower QoS). */
  missing(): TopicQos[] {
    return [...this.desired].filter(([t, q]) => (this.subscribed.get(t) ?? -1) < q);
  }

  /** The broker granted these. */
  confirmed(subs: readonly TopicQos[]): void {
    for (const [t, q] of subs) this.subscribed.set(t, q);
  }
}

/** The first filter a SUBACK refused (reason code >= 0x80), with its code; undefined when all were granted. */
export function subackRefusal(subs: readonly TopicQos[], granted: readonly number[] | undefined): { topic: string; reasonCode: number } | undefined {
  if (!granted) return undefined;
  const at = granted.findIndex((c) => c >= 0x80);
  const refused = subs[at];
  return refused ? { topic: refused[0], reasonCode: granted[at] as number } : undefined;
}
