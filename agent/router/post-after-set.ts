/**
 * The post-after-set policy (docs/protocol/payloads.md, "Property set and its reply"; our policy): after a successful property set, the new values
 * are posted (docs/protocol/payloads.md, "Property post") so that the cloud's shadow of the device is current. One QoS 1 post (and one `post_reply`)
 * per set would cost as much as the set itself, so the values of every set answered within a short window are
 * merged, the latest value of each identifier winning, and posted once when the window closes.
 *
 * The window is the current turn of the event loop (`coalesceMs: 0`: a `setImmediate`, so every set of one
 * socket read shares one post) or a few milliseconds. One timer per window, none per set. The post always
 * leaves after the set_replies of the sets it carries: a set is added only once its reply has been handed on.
 */
import type { Logger } from 'pino';
import { MAX_POST_PROPERTIES } from '../../thing-model';
import type { CloudReply } from '../../handlers/api';

/** How the router posts the values of successful property sets. */
export interface PostAfterSetOptions {
  /** Post the new values after a successful set; default true. */
  enabled: boolean;
  /**
   * How long the values of further sets are gathered before the one post leaves: 0 (the default) means the
   * rest of the current event-loop turn; more trades shadow freshness for fewer posts under bursts.
   */
  coalesceMs: number;
}

export const DEFAULT_POST_AFTER_SET: PostAfterSetOptions = { enabled: true, coalesceMs: 0 };

/** Posts already-validated property values (the upstream's `postValidated`). */
export type PostValidated = (params: Record<string, unknown>) => Promise<CloudReply>;

/** Gathers the values of successful sets and posts them, merged, once per window. */
export class SetPostCoalescer {
  /** Values waiting for the window to close; undefined when no window is open. */
  private pending: Record<string, unknown> | undefined;
  /** False while `pending` is still the one set's own values object (no copy is made for a lone set). */
  private merged = false;
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private readonly onWindowEnd = () => {
    this.timer = undefined;
    this.flush();
  };
  private readonly onPostFailed: (err: unknown) => void;

  constructor(
    private readonly post: PostValidated,
    private readonly coalesceMs: number,
    logger: Logger,
  ) {
    this.onPostFailed = (err) => logger.warn({ err }, 'property post after a set failed');
  }

  /**
   * Adds the values of one successful set; they leave with the post of the current window. `values` is kept,
   * not copied, until a second set arrives in the window: the caller must not change it afterwards.
   */
  add(values: Record<string, unknown>): void {
    const p = this.pending;
    if (p === undefined) {
      this.pending = values;
      this.timer = this.coalesceMs > 0 ? setTimeout(this.onWindowEnd, this.coalesceMs) : setImmediate(this.onWindowEnd);
      return;
    }
    const into = this.merged ? p : copy(p);
    for (const k in values) put(into, k, values[k]);
    this.pending = into;
    this.merged = true;
  }

  /** Posts what is pending now (the router calls it when draining, before the connection closes). */
  flush(): void {
    if (this.timer !== undefined) {
      if (this.coalesceMs > 0) clearTimeout(this.timer as NodeJS.Timeout);
      else clearImmediate(this.timer as NodeJS.Immediate);
      this.timer = undefined;
    }
    const p = this.pending;
    if (p === undefined) return;
    this.pending = undefined;
    this.merged = false;
    const ids = Object.keys(p);
    if (ids.length <= MAX_POST_PROPERTIES) {
      this.post(p).catch(this.onPostFailed);
      return;
    }
    // Merged sets can exceed what one post may carry (platform code 6106): split rather than be refused.
    for (let i = 0; i < ids.length; i += MAX_POST_PROPERTIES) {
      const part: Record<string, unknown> = {};
      for (const k of ids.slice(i, i + MAX_POST_PROPERTIES)) put(part, k, p[k]);
      this.post(part).catch(this.onPostFailed);
    }
  }
}

function copy(values: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k in values) put(out, k, values[k]);
  return out;
}

/**
 * `o[k] = v`, except that an identifier named `__proto__` (the TSL allows it, JSON.parse makes it an own key)
 * becomes an own key too instead of replacing the prototype.
 */
function put(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}
