/** Metrics hook of the router (the agent plugs a Prometheus implementation in; the router only calls it). */

/** Inbound kinds, as counted by `messageIn` and timed by `handlerDone`. */
export type InboundKind = 'propertySet' | 'service' | 'rrpc' | 'rawRrpc' | 'customRrpc' | 'customTopic' | 'raw' | 'config' | 'propertyGet' | 'desired' | 'shadow' | 'ntp' | 'reply' | 'channelReply' | 'unrouted';

export interface RouterObserver {
  /** A message arrived and was classified. */
  messageIn(kind: InboundKind): void;
  /** An error reply was sent (460, 400, 429 or a device-defined code). */
  rejection(code: number): void;
  /** A handled message was answered (or, without a reply, its handler finished), `seconds` after it arrived. */
  handlerDone(kind: InboundKind, seconds: number): void;
  /** An RRPC handler missed its budget; the router answered with an error instead. */
  rrpcBudgetMiss(): void;
}
