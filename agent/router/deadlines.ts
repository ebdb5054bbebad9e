/**
 * The deadlines of the calls waiting on a handler's promise, on one timer per owner instead of one each. A call
 * that ends in time (nearly all of them) costs two Set operations instead of a Node timer created and cleared; the
 * timer is set again only when a deadline comes before the one it is set for. Once nothing is pending it no longer
 * holds the process open, and when it then fires for nothing it stays unset until the next deadline arrives.
 */

/** Something with a deadline: epoch milliseconds, fixed while it is held. */
export interface HasDeadline {
  readonly deadline: number;
}

/** The timer functions used; Node's by default, replaced in tests. */
export interface DeadlineClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): DeadlineTimerHandle;
  clearTimeout(handle: DeadlineTimerHandle): void;
}

/** What a timer handle must offer: Node's `Timeout`. */
export interface DeadlineTimerHandle {
  ref(): unknown;
  unref(): unknown;
}

const NODE_CLOCK: DeadlineClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** setTimeout's longest delay; longer ones fire at once (Node), so the timer is set at most this far out. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * Holds items until their deadline and hands each to `expired` once it passed, unless it was deleted first.
 * Memory is bounded by the items held: emptied deadlines are dropped at once.
 */
export class DeadlineTimer<T extends HasDeadline> {
  /**
   * Items by deadline, alone or (rarely: deadlines are in milliseconds) in a Set of those sharing one; iteration
   * order is insertion order, not time order (deadlines come from different budgets).
   */
  private readonly due = new Map<number, T | Set<T>>();
  private count = 0;
  private timer: DeadlineTimerHandle | undefined;
  /** The deadline the timer is set for; Infinity when unset. */
  private armedFor = Infinity;
  private refed = false;

  constructor(
    private readonly expired: (item: T) => void,
    private readonly clock: DeadlineClock = NODE_CLOCK,
  ) {}

  /** Items held. */
  get size(): number {
    return this.count;
  }

  /** Distinct deadlines held (for tests of the bound). */
  get deadlines(): number {
    return this.due.size;
  }

  /** Holds `item` until its deadline; adding an item already held does nothing. */
  add(item: T): void {
    const at = item.deadline;
    const held = this.due.get(at);
    if (held === undefined) this.due.set(at, item);
    else if (held instanceof Set) {
      if (held.has(item)) return;
      held.add(item);
    } else {
      if (held === item) return;
      this.due.set(at, new Set([held, item]));
    }
    this.count++;
    if (at < this.armedFor) this.arm(at);
    else if (!this.refed) this.ref(true);
  }

  /** Stops holding `item`; true when it was held. */
  delete(item: T): boolean {
    const at = item.deadline;
    const held = this.due.get(at);
    if (held === item) this.due.delete(at);
    else if (held instanceof Set && held.delete(item)) {
      if (held.size === 0) this.due.delete(at);
    } else return false;
    if (--this.count === 0) this.ref(false);
    return true;
  }

  /** Every item held, in no particular order (a copy: the caller may delete while going through it). */
  items(): T[] {
    const out: T[] = [];
    for (const held of this.due.values()) {
      if (held instanceof Set) for (const item of held) out.push(item);
      else out.push(held);
    }
    return out;
  }

  private arm(at: number): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.armedFor = at;
    this.timer = this.clock.setTimeout(this.fire, Math.min(MAX_DELAY_MS, Math.max(0, at - this.clock.now())));
    this.refed = true;
  }

  private ref(on: boolean): void {
    this.refed = on;
    if (on) this.timer?.ref();
    else this.timer?.unref();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.armedFor = Infinity;
    this.refed = false;
    const now = this.clock.now();
    const expired: T[] = [];
    let next = Infinity;
    for (const [at, held] of this.due) {
      if (at <= now) {
        if (held instanceof Set) for (const item of held) expired.push(item);
        else expired.push(held);
        this.due.delete(at);
      } else if (at < next) next = at;
    }
    this.count -= expired.length;
    if (next !== Infinity) this.arm(next);
    for (const item of expired) this.expired(item);
  };
}
