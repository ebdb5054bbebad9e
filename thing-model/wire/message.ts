/** Alink request and reply envelopes (alink-protocol.md §3). */

/** A request in either direction. `id` is a string of decimal digits, 0..4294967295. */
export interface AlinkRequest<P = unknown> {
  id: string;
  version: string;
  params: P;
  method?: string;
  sys?: { ack?: 0 | 1 };
}

/** The answer to a request: `id` copied verbatim from the request. */
export interface AlinkReply<D = unknown> {
  id: string;
  code: number;
  data: D;
  message?: string;
  method?: string;
  version?: string;
}

const MAX_ID = 4294967295;

/** Alink `method` strings with a fixed name (docs/protocol/sdk-compat.md §4 for the batch one); per-identifier ones are built below. */
export const AlinkMethods = {
  PROPERTY_POST: 'thing.event.property.post',
  PROPERTY_SET: 'thing.service.property.set',
  PROPERTY_GET: 'thing.service.property.get',
  /** The batch post's method; LinkSDK sends none, other SDKs this one. */
  PROPERTY_BATCH_POST: 'thing.event.property.batch.post',
} as const;

/** The prefix of every service call's method: `thing.service.{identifier}`. */
export const SERVICE_METHOD_PREFIX = 'thing.service.';

/**
 * Per-device upstream message ids: decimal strings in 0..4294967295, unique for the day (the platform's rule).
 * Starts from a time-derived value so that a restarted process does not reuse the ids of its previous run.
 */
/** The Alink `method` of a call to TSL service `serviceId`. */
export function serviceMethod(serviceId: string): string {
  return `${SERVICE_METHOD_PREFIX}${serviceId}`;
}

/** The Alink `method` of a post of TSL event `eventId`. */
export function eventMethod(eventId: string): string {
  return `thing.event.${eventId}.post`;
}

export class MessageIdGenerator {
  private next: number;

  constructor(seed: number = Date.now() % 1_000_000_000) {
    this.next = seed % MAX_ID;
  }

  nextId(): string {
    const id = this.next;
    this.next = this.next >= MAX_ID ? 0 : this.next + 1;
    return String(id);
  }
}

/** True for a decimal-digit string in the platform's id range. */
export function isAlinkId(id: unknown): id is string {
  return typeof id === 'string' && /^[0-9]{1,10}$/.test(id) && Number(id) <= MAX_ID;
}
