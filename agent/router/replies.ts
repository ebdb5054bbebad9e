/**
 * Reply payloads and their publishing. The code of an error reply follows docs/protocol/codes.md, "Agent mapping": 460 for bad
 * input, 429 for local throttling, 400 or a device-defined 100000–110000 code for handler failures.
 */
import type { Logger } from 'pino';
import { AlinkCodes, isAlinkError, isDeviceReplyCode } from '../../thing-model/codes';
import type { MessageProperties, PublishReceipt } from '../../handlers/api';
import type { ReplyCache, StoredReply, Uplink } from '../transport';
import type { RouterObserver } from './observer';

/**
 * The reply code of what a handler threw: its Alink code when it is one a device may send, else 400. Errors are
 * recognised by their brand and `code`, not `instanceof`, so a plugin built against a second copy of the API
 * still answers with its `HandlerError`'s code.
 */
export function replyCodeOf(err: unknown): { code: number; message: string } {
  const message = err instanceof Error || isAlinkError(err) ? err.message : String(err);
  if (isAlinkError(err) && isDeviceReplyCode(err.code)) return { code: err.code, message };
  return { code: AlinkCodes.REQUEST_ERROR, message };
}

const SUCCESS = AlinkCodes.SUCCESS;

/** `{"id":..,"code":..,"data":{},"message":..}`; `id` is omitted when empty (nothing to echo). */
export function errorReply(id: string, code: number, message: string): string {
  return id === '' ? JSON.stringify({ code, data: {}, message }) : JSON.stringify({ id, code, data: {}, message });
}

/** The set_reply of success; `id` was checked to be digits, so no escaping is needed. */
export function okEmptyReply(id: string): string {
  return `{"id":"${id}","code":${SUCCESS},"data":{}}`;
}

/** De-dup keys of sync RRPC (`rrpc:{messageId}`), answered from memory rather than the durable inbox. */
export const RRPC_KEY_PREFIX = 'rrpc:';

/**
 * A bounded in-memory reply cache, oldest entry evicted first. Sync RRPC is QoS 0 and the platform never redelivers
 * it (docs/protocol/rrpc.md, "De-duplication"), so a duplicate can only be a broker echo or a fast retry within this
 * process's life: it needs no SQLite record, and skipping the inbox commit takes it off the RRPC latency path.
 */
export class MemoryReplyCache implements ReplyCache {
  private readonly entries = new Map<string, StoredReply>();

  constructor(private readonly max: number) {}

  get(key: string): StoredReply | undefined {
    return this.entries.get(key);
  }

  put(key: string, reply: StoredReply): void {
    this.entries.delete(key);
    this.entries.set(key, reply);
    if (this.entries.size > this.max) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
  }

  size(): number {
    return this.entries.size;
  }
}

/**
 * Publishes replies, remembering them in the reply cache when the request had a de-dup key: sync RRPC keys in the
 * in-memory cache, everything else (property sets, async services) in the durable one.
 */
export class Replier {
  private readonly volatile = new MemoryReplyCache(4096);

  constructor(
    private readonly uplink: Uplink,
    private readonly logger: Logger,
    private readonly cache: ReplyCache | undefined,
    private readonly observer: RouterObserver | undefined,
  ) {}

  /**
   * Publishes a reply; never rejects (a refused reply is logged). Not an async function: this runs once per
   * request, and a plain promise chain costs less than an async frame on top of the uplink's own promise.
   */
  send(topic: string, payload: string | Buffer, qos: 0 | 1, cacheKey?: string, properties?: MessageProperties, messageClass = 'reply'): Promise<void> {
    const cache = cacheKey === undefined ? undefined : this.cacheFor(cacheKey);
    if (cacheKey !== undefined && cache && typeof payload === 'string') {
      try {
        cache.put(cacheKey, { topic, payload });
      } catch (err) {
        this.logger.warn({ err, key: cacheKey }, 'reply cache refused the reply; a redelivery would run the handler again');
      }
    }
    let published: Promise<PublishReceipt>;
    try {
      published = this.uplink.publish(topic, payload, { qos, properties, messageClass });
    } catch (err) {
      this.notPublished(err, topic);
      return RESOLVED;
    }
    return published.then(watchAck, (err: unknown) => this.notPublished(err, topic));
  }

  private cacheFor(key: string): ReplyCache | undefined {
    return key.startsWith(RRPC_KEY_PREFIX) ? this.volatile : this.cache;
  }

  private notPublished(err: unknown, topic: string): void {
    this.logger.warn({ err, topic }, 'reply not published');
  }

  /** Sends an error reply and counts the rejection. */
  error(topic: string, id: string, code: number, message: string, qos: 0 | 1, cacheKey?: string, properties?: MessageProperties, messageClass = 'reply'): Promise<void> {
    this.observer?.rejection(code);
    // "Busy now" must not become the permanent answer to a redelivery.
    return this.send(topic, errorReply(id, code, message), qos, code === AlinkCodes.TOO_MANY_REQUESTS ? undefined : cacheKey, properties, messageClass);
  }

  /** Re-sends the stored reply of an already answered request; true when there was one. */
  replay(key: string, qos: 0 | 1): boolean {
    const stored = this.cacheFor(key)?.get(key);
    if (!stored) return false;
    this.logger.debug({ key }, 'redelivered request answered from the reply cache');
    void this.send(stored.topic, stored.payload, qos);
    return true;
  }
}

function ignore(): void {}

const RESOLVED: Promise<void> = Promise.resolve();

/** A lost PUBACK must not become an unhandled rejection; the reply itself is out of our hands by then. */
function watchAck(receipt: PublishReceipt): void {
  receipt.acked.catch(ignore);
}
