/**
 * Reply payloads and their publishing. The code of an error reply follows docs/protocol/codes.md, "Agent mapping": 460 for bad
 * input, 429 for local throttling, 400 or a device-defined 100000–110000 code for handler failures.
 */
import type { Logger } from 'pino';
import { AlinkCodes, isAlinkError, isDeviceReplyCode } from '../../thing-model/codes';
import type { MessageProperties, PublishReceipt } from '../../handlers/api';
import type { ReplyCache, Uplink } from '../transport';
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

/** Publishes replies, remembering them in the reply cache when the request had a de-dup key. */
export class Replier {
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
    if (cacheKey !== undefined && this.cache && typeof payload === 'string') {
      try {
        this.cache.put(cacheKey, { topic, payload });
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
    if (!this.cache) return false;
    const stored = this.cache.get(key);
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
