/**
 * Upstream limits (docs/protocol/limits.md): payload size, topic length and message rate, checked before a
 * message is handed to the connection so the caller gets a typed error instead of a silent drop.
 */
import type { UpstreamLimitsSection } from '../config/schema';
import { hasWildcard } from '../../thing-model/wire';
import { SessionError, SessionErrors } from './errors';

/** A token bucket holding one second's worth of messages. */
class RateBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number,
  ) {
    this.tokens = perSecond;
    this.last = now();
  }

  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((t - this.last) * this.perSecond) / 1000);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export class UpstreamLimits {
  private readonly bucket: RateBucket | undefined;

  constructor(
    private readonly limits: UpstreamLimitsSection,
    now: () => number = Date.now,
  ) {
    this.bucket = limits.maxMessagesPerSecond === undefined ? undefined : new RateBucket(limits.maxMessagesPerSecond, now);
  }

  /** Returns the error that refuses this message, or undefined when it may go. Counts it against the rate. */
  check(topic: string, payloadBytes: number): SessionError | undefined {
    const topicBytes = Buffer.byteLength(topic);
    if (topicBytes > this.limits.maxTopicLength) return SessionErrors.topicTooLong(topic, topicBytes, this.limits.maxTopicLength);
    if (topic === '' || hasWildcard(topic)) return SessionErrors.topicInvalid(topic);
    if (payloadBytes > this.limits.maxPayloadBytes) return SessionErrors.payloadTooLarge(topic, payloadBytes, this.limits.maxPayloadBytes);
    if (this.bucket && !this.bucket.take()) return SessionErrors.rateLimited(topic, this.limits.maxMessagesPerSecond as number);
    return undefined;
  }
}
