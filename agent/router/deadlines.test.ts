/**
 * DeadlineTimer: items are handed over once their deadline passed and not before, deleted items never, and what it
 * holds (items, deadlines, the one timer) shrinks back to nothing once the items are gone.
 */
import { DeadlineTimer, type DeadlineClock, type DeadlineTimerHandle } from './deadlines';

interface FakeTimer {
  at: number;
  fn: () => void;
  refed: boolean;
  cleared: boolean;
}

/** A hand-driven clock: one list of timers, run by `advance`. */
class ManualClock implements DeadlineClock {
  t = 1_000_000;
  timers: FakeTimer[] = [];
  sets = 0;

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): DeadlineTimerHandle {
    this.sets++;
    const timer: FakeTimer = { at: this.t + ms, fn, refed: true, cleared: false };
    this.timers.push(timer);
    return {
      ref: () => (timer.refed = true),
      unref: () => (timer.refed = false),
      cleared: timer,
    } as DeadlineTimerHandle;
  }

  clearTimeout(h: DeadlineTimerHandle): void {
    (h as unknown as { cleared: { cleared: boolean } }).cleared.cleared = true;
  }

  /** Timers still set. */
  live(): FakeTimer[] {
    return this.timers.filter((x) => !x.cleared);
  }

  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = this.live()
        .filter((x) => x.at <= end)
        .sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.t = Math.max(this.t, next.at);
      next.cleared = true;
      next.fn();
    }
    this.t = end;
  }
}

interface Item {
  deadline: number;
  name: string;
}

function setup() {
  const clock = new ManualClock();
  const fired: string[] = [];
  const timer = new DeadlineTimer<Item>((i) => fired.push(`${i.name}@${clock.now()}`), clock);
  const item = (name: string, inMs: number): Item => ({ name, deadline: clock.t + inMs });
  return { clock, fired, timer, item };
}

describe('DeadlineTimer', () => {
  it('hands each item over at its deadline, in deadline order, whatever order they came in', () => {
    const { clock, fired, timer, item } = setup();
    const t0 = clock.t;
    timer.add(item('late', 300));
    timer.add(item('early', 100));
    timer.add(item('mid', 200));
    timer.add(item('mid2', 200));
    clock.advance(99);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([`early@${t0 + 100}`]);
    clock.advance(100);
    expect(fired).toEqual([`early@${t0 + 100}`, `mid@${t0 + 200}`, `mid2@${t0 + 200}`]);
    clock.advance(100);
    expect(fired).toHaveLength(4);
    expect(fired[3]).toBe(`late@${t0 + 300}`);
    expect(timer.size).toBe(0);
    expect(timer.deadlines).toBe(0);
    expect(clock.live()).toEqual([]);
  });

  it('never hands over a deleted item, and says whether it held it', () => {
    const { clock, fired, timer, item } = setup();
    const a = item('a', 100);
    const b = item('b', 100);
    timer.add(a);
    timer.add(b);
    expect(timer.delete(a)).toBe(true);
    expect(timer.delete(a)).toBe(false);
    clock.advance(500);
    expect(fired).toEqual([`b@${clock.t - 400}`]);
    expect(timer.delete(b)).toBe(false);
  });

  it('an item already past its deadline is handed over on the next turn, not during add', () => {
    const { clock, fired, timer, item } = setup();
    timer.add(item('past', -50));
    expect(fired).toEqual([]);
    clock.advance(0);
    expect(fired).toEqual([`past@${clock.t}`]);
  });

  it('sets its one timer again only for a deadline earlier than the one it is set for', () => {
    const { clock, timer, item } = setup();
    timer.add(item('first', 1000));
    for (let i = 1; i <= 50; i++) timer.add(item(`later${i}`, 1000 + i));
    expect(clock.sets).toBe(1);
    timer.add(item('sooner', 10));
    expect(clock.sets).toBe(2);
    expect(clock.live()).toHaveLength(1);
  });

  it('stays bounded by what it holds: calls that end in time leave nothing behind', () => {
    const { clock, fired, timer, item } = setup();
    for (let i = 0; i < 10_000; i++) {
      const it = item(`c${i}`, 900);
      timer.add(it);
      clock.advance(1);
      timer.delete(it);
    }
    expect(timer.size).toBe(0);
    expect(timer.deadlines).toBe(0);
    expect(timer.items()).toEqual([]);
    // About one timer per 900 ms of calls, not one per call.
    expect(clock.sets).toBeLessThanOrEqual(15);
    clock.advance(5000);
    expect(fired).toEqual([]);
    expect(clock.live()).toEqual([]);
  });

  it('does not hold the process open while nothing is pending, and does again once something is', () => {
    const { clock, timer, item } = setup();
    const a = item('a', 1000);
    timer.add(a);
    expect(clock.live()[0]?.refed).toBe(true);
    timer.delete(a);
    expect(clock.live()[0]?.refed).toBe(false);
    timer.add(item('b', 2000));
    expect(clock.live()).toHaveLength(1);
    expect(clock.live()[0]?.refed).toBe(true);
  });

  it('lists what it holds, and the list may be changed while going through it', () => {
    const { timer, item } = setup();
    const a = item('a', 10);
    const b = item('b', 20);
    timer.add(a);
    timer.add(b);
    timer.add(a);
    expect(timer.size).toBe(2);
    for (const i of timer.items()) timer.delete(i);
    expect(timer.size).toBe(0);
  });

  it('sets the timer no further out than setTimeout allows, and waits on past it', () => {
    const { clock, fired, timer } = setup();
    timer.add({ name: 'far', deadline: clock.t + 2 ** 32 });
    expect(clock.live()[0]?.at).toBe(clock.t + 2 ** 31 - 1);
    clock.advance(2 ** 31);
    expect(fired).toEqual([]);
    clock.advance(2 ** 31);
    expect(fired).toHaveLength(1);
  });

  it('items handed over may add new ones', () => {
    const clock = new ManualClock();
    const fired: string[] = [];
    const timer: DeadlineTimer<Item> = new DeadlineTimer<Item>((i) => {
      fired.push(i.name);
      if (i.name === 'a') timer.add({ name: 'b', deadline: clock.now() + 10 });
    }, clock);
    timer.add({ name: 'a', deadline: clock.t + 10 });
    clock.advance(30);
    expect(fired).toEqual(['a', 'b']);
  });
});
