import { Watchdog, watchdogFromEnv } from './watchdog';
import { captureLog } from '../../test/agent-support';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const busy = (ms: number) => {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // block the event loop
  }
};

describe('watchdogFromEnv', () => {
  it('pings every WATCHDOG_USEC/4 for this pid', () => {
    expect(watchdogFromEnv({ WATCHDOG_USEC: '30000000' }, 42)).toEqual({ enabled: true, watchdogUsec: 30_000_000, intervalMs: 7_500 });
    expect(watchdogFromEnv({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42)).toMatchObject({ enabled: true, intervalMs: 7_500 });
    expect(watchdogFromEnv({ WATCHDOG_USEC: '1' }, 42)).toMatchObject({ enabled: true, intervalMs: 1 });
  });

  it('is off when unset or meant for another process', () => {
    expect(watchdogFromEnv({}, 42)).toEqual({ enabled: false, reason: 'WATCHDOG_USEC is not set' });
    expect(watchdogFromEnv({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' }, 42)).toEqual({
      enabled: false,
      reason: 'WATCHDOG_PID=7 names another process (this one is 42)',
    });
  });

  it.each(['0', '-5', '1.5', 'soon', '99999999999999999999'])('reports WATCHDOG_USEC=%s as an error value naming the key', (raw) => {
    const s = watchdogFromEnv({ WATCHDOG_USEC: raw }, 42);
    expect(s.enabled).toBe(false);
    if (s.enabled) return;
    expect(s.error?.code).toBe('LIFECYCLE_WATCHDOG_ENV_INVALID');
    expect(s.error?.message).toBe(`WATCHDOG_USEC: expected a positive integer (microseconds), received ${JSON.stringify(raw)}; watchdog pings disabled`);
  });
});

describe('Watchdog', () => {
  const started: Watchdog[] = [];
  afterEach(() => started.splice(0).forEach((w) => w.stop()));
  const make = (opts: Partial<ConstructorParameters<typeof Watchdog>[0]> & { pings: number[] }) => {
    const log = captureLog();
    const w = new Watchdog({ intervalMs: 100, isAlive: () => true, logger: log.logger, ping: () => opts.pings.push(Date.now()), ...opts });
    started.push(w);
    return { w, log };
  };

  it('pings at once, then about every interval', async () => {
    const pings: number[] = [];
    const { w } = make({ pings });
    w.start();
    expect(pings).toHaveLength(1);
    await sleep(1050);
    w.stop();
    expect(pings.length).toBeGreaterThanOrEqual(7);
    expect(pings.length).toBeLessThanOrEqual(12);
    expect(w.stats.pings).toBe(pings.length);
    const n = pings.length;
    await sleep(250);
    expect(pings).toHaveLength(n);
    expect(w.running).toBe(false);
  });

  it('pings as soon as the loop is responsive again after a stall, and logs the stall once', async () => {
    const pings: number[] = [];
    const { w, log } = make({ pings });
    w.start();
    await sleep(150);
    const before = pings.length;
    busy(400);
    const unblocked = Date.now();
    // nothing could ping while the loop was blocked
    expect(pings).toHaveLength(before);
    await sleep(60);
    // the ping that fell due during the stall goes out right after it (a probe later), not an interval later
    expect(pings.length).toBe(before + 1);
    expect(pings[before]! - unblocked).toBeLessThan(60);
    expect(w.stats.withheldForLag).toBeGreaterThanOrEqual(1);
    expect(w.stats.maxLagMs).toBeGreaterThanOrEqual(250);
    expect(log.find('watchdog ping withheld: the event loop was blocked')).toEqual([expect.objectContaining({ level: 40, maxLagMs: 25 })]);
    await sleep(250);
    expect(pings.length).toBeGreaterThanOrEqual(before + 3);
  });

  it('keeps withholding while the loop stays busy, probing until it is free', async () => {
    const pings: number[] = [];
    const { w } = make({ pings });
    w.start();
    await sleep(120);
    const before = pings.length;
    // back-to-back stalls with only a zero-delay hop between them: each probe fires late
    for (let i = 0; i < 4; i++) {
      busy(120);
      await new Promise((r) => setImmediate(r));
    }
    const free = Date.now();
    const during = pings.filter((p) => p < free - 5).length - before;
    await sleep(50);
    expect(during).toBeLessThanOrEqual(1);
    expect(pings.length).toBeGreaterThan(before + during);
    expect(w.stats.withheldForLag).toBeGreaterThanOrEqual(2);
  });

  it('honours a custom lag limit', async () => {
    const pings: number[] = [];
    const { w } = make({ pings, maxLagMs: 1000 });
    w.start();
    await sleep(50);
    busy(300);
    await sleep(20);
    expect(w.stats.withheldForLag).toBe(0);
    expect(w.stats.maxLagMs).toBeGreaterThanOrEqual(200);
  });

  it('withholds pings while isAlive() is false or throws, logging the change once each way', async () => {
    const pings: number[] = [];
    let alive: boolean | 'throw' = false;
    const { w, log } = make({
      pings,
      isAlive: () => {
        if (alive === 'throw') throw new Error('session gone');
        return alive;
      },
    });
    w.start();
    await sleep(350);
    expect(pings).toHaveLength(0);
    expect(w.stats.withheldForLiveness).toBeGreaterThanOrEqual(3);
    alive = true;
    await sleep(250);
    expect(pings.length).toBeGreaterThanOrEqual(1);
    alive = 'throw';
    const n = pings.length;
    await sleep(250);
    expect(pings).toHaveLength(n);
    expect(log.find('watchdog pings withheld')).toHaveLength(2);
    expect(log.find('watchdog pings resumed')).toHaveLength(1);
    expect(log.find('watchdog: isAlive() threw').every((l) => l.level === 50)).toBe(true);
    expect(log.find('watchdog: isAlive() threw').length).toBeGreaterThanOrEqual(1);
  });

  it('refuses a non-positive interval', () => {
    const { logger } = captureLog();
    expect(() => new Watchdog({ intervalMs: 0, isAlive: () => true, ping: () => undefined, logger })).toThrow('intervalMs: expected a positive number, received 0');
  });
});
