/**
 * One handler invocation with a deadline. A handler that returns synchronously costs no timer and no
 * AbortController (the signal is created on first access); one that returns a promise races a timer set to
 * the deadline, and whichever comes first wins: the other is logged and dropped.
 */
import type { Logger } from 'pino';
import type { CallContext, CallKind, DeviceIdentity } from '../../handlers/api';

/** How a handler call ended. `expired` carries the message of the error reply the router sends instead. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown; expired?: string };

export class Call implements CallContext {
  private controller: AbortController | undefined;
  private abortReason: string | undefined;
  /** The TSL service identifier, for service calls. */
  service: string | undefined;
  /** Set while a promise is pending; ends the call early (deadline or drain). */
  expire: ((message: string) => void) | undefined;

  constructor(
    readonly kind: CallKind,
    readonly id: string,
    /** Epoch ms when the message arrived. */
    readonly receivedAt: number,
    readonly deadline: number,
    readonly logger: Logger,
    /** The sub-device the call is for; undefined on the gateway's own router. */
    readonly device?: DeviceIdentity,
  ) {}

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortReason !== undefined) this.controller.abort(new Error(this.abortReason));
    }
    return this.controller.signal;
  }

  abort(reason: string): void {
    if (this.abortReason !== undefined) return;
    this.abortReason = reason;
    this.controller?.abort(new Error(reason));
  }
}

/** Calls that are waiting on a promise, so that `drain` can end them. */
export class PendingCalls {
  private readonly calls = new Set<Call>();

  get size(): number {
    return this.calls.size;
  }

  add(c: Call): void {
    this.calls.add(c);
  }

  delete(c: Call): void {
    this.calls.delete(c);
  }

  /** Ends every pending call with `message` (their error replies follow). */
  expireAll(message: string): void {
    for (const c of [...this.calls]) c.expire?.(message);
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

/**
 * Runs `fn(arg, call)`. Synchronous results and throws come back synchronously; a promise is raced against
 * `call.deadline`. On expiry the call's signal is aborted and a late result is logged, never delivered.
 */
export function runHandler<A, T>(
  fn: (arg: A, call: Call) => T | PromiseLike<T>,
  arg: A,
  call: Call,
  pending: PendingCalls,
): Outcome<T> | Promise<Outcome<T>> {
  let r: T | PromiseLike<T>;
  try {
    r = fn(arg, call);
  } catch (error) {
    return { ok: false, error };
  }
  if (!isThenable(r)) return { ok: true, value: r };
  const promise = r;
  return new Promise<Outcome<T>>((resolve) => {
    let done = false;
    const finish = (o: Outcome<T>) => {
      done = true;
      clearTimeout(timer);
      pending.delete(call);
      call.expire = undefined;
      resolve(o);
    };
    call.expire = (message: string) => {
      if (done) return;
      call.abort(message);
      finish({ ok: false, error: new Error(message), expired: message });
    };
    const timer = setTimeout(() => call.expire?.(`deadline exceeded after ${Date.now() - call.receivedAt} ms`), Math.max(0, call.deadline - Date.now()));
    pending.add(call);
    promise.then(
      (value) => {
        if (done) call.logger.warn({ kind: call.kind, id: call.id }, 'late handler result dropped: the call was already answered');
        else finish({ ok: true, value });
      },
      (error: unknown) => {
        if (done) call.logger.warn({ kind: call.kind, id: call.id, err: error }, 'late handler failure dropped: the call was already answered');
        else finish({ ok: false, error });
      },
    );
  });
}
