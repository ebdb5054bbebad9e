/**
 * The systemd integration in a real child process, run through test/helpers/ts-register.js, notifying a socket
 * that python3 binds (independent of the addon). WATCHDOG_USEC=600000 gives a ping every 150 ms.
 */
import { NotifyReceiver, type Datagram } from '../../native/test/notify-receiver';
import { SystemdChild } from './__fixtures__/child';

const WATCHDOG_USEC = 600_000;
const PERIOD_MS = WATCHDOG_USEC / 1000;
const INTERVAL_MS = WATCHDOG_USEC / 4000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const between = (ds: Datagram[], from: Datagram, to?: Datagram) => ds.filter((d) => d.atMs > from.atMs && (to === undefined || d.atMs < to.atMs));
const watchdogPings = (r: NotifyReceiver) => r.matching('WATCHDOG=1');
/** The longest time between two consecutive pings after `from`. */
const longestGap = (pings: Datagram[]) => Math.max(...pings.slice(1).map((p, i) => p.atMs - (pings[i] as Datagram).atMs));

describe('SystemdIntegration in a child process run by "systemd"', () => {
  let receiver: NotifyReceiver;
  let child: SystemdChild;

  beforeAll(async () => {
    receiver = await NotifyReceiver.start('path');
    child = SystemdChild.spawn({ NOTIFY_SOCKET: receiver.address, WATCHDOG_USEC: String(WATCHDOG_USEC) });
    await receiver.waitFor('READY=1', 15000);
  });
  afterAll(async () => {
    await child?.close();
    await receiver?.close();
  });

  it('sends READY=1 with the status line, from the main pid', async () => {
    const ready = await receiver.waitFor('READY=1');
    expect(ready.text).toBe('READY=1\nSTATUS=connected to mqtt://127.0.0.1:1883, outbox 0 pending, last error: none');
    expect(ready.pid).toBe(child.pid);
    expect(child.logs.find((l) => l.msg === 'systemd watchdog on')).toMatchObject({ watchdogUsec: WATCHDOG_USEC, pingEveryMs: INTERVAL_MS });
  });

  it('pings WATCHDOG=1 about every WATCHDOG_USEC/4', async () => {
    const pings = await receiver.waitForCount('WATCHDOG=1', 7, 10_000, receiver.datagrams.length);
    const gaps = pings.slice(1).map((p, i) => p.atMs - (pings[i] as Datagram).atMs);
    const sorted = [...gaps].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] as number;
    expect(median).toBeGreaterThanOrEqual(INTERVAL_MS * 0.8);
    expect(median).toBeLessThanOrEqual(INTERVAL_MS * 1.5);
    // never early, and always well inside systemd's deadline
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(INTERVAL_MS * 0.9);
    expect(Math.max(...gaps)).toBeLessThan(PERIOD_MS);
    expect(pings.every((p) => p.pid === child.pid && p.text === 'WATCHDOG=1')).toBe(true);
  });

  it('sends no ping while the event loop is blocked, and pings as soon as it is responsive again', async () => {
    const from = receiver.datagrams.length;
    child.command('block 1500');
    const start = await receiver.waitFor('X_TEST=block-start', 5000, from);
    const end = await receiver.waitFor('X_TEST=block-end', 5000, from);
    expect(end.atMs - start.atMs).toBeGreaterThanOrEqual(1400);
    const resumed = await receiver.waitFor('WATCHDOG=1', 3000, receiver.datagrams.indexOf(end));
    expect(between(watchdogPings(receiver), start, end)).toEqual([]);
    // the stall is over: the ping due goes out after one probe, not a whole interval later
    expect(resumed.atMs - end.atMs).toBeLessThan(INTERVAL_MS);
    const warn = child.logs.find((l) => l.msg.startsWith('watchdog ping withheld: the event loop was blocked'));
    expect(warn).toMatchObject({ level: 40 });
    expect(warn?.lagMs).toBeGreaterThanOrEqual(1000);
  });

  it('withholds pings while isAlive() is false and resumes when it is true again', async () => {
    const from = receiver.datagrams.length;
    child.command('alive 0');
    const dead = await receiver.waitFor('X_TEST=alive-0', 5000, from);
    await sleep(INTERVAL_MS * 4);
    child.command('alive 1');
    const back = await receiver.waitFor('X_TEST=alive-1', 5000, from);
    expect(between(watchdogPings(receiver), dead, back)).toEqual([]);
    const resumed = await receiver.waitFor('WATCHDOG=1', INTERVAL_MS * 4, receiver.datagrams.indexOf(back));
    expect(resumed.atMs - back.atMs).toBeLessThanOrEqual(INTERVAL_MS * 2);
    expect(child.logs.filter((l) => l.msg.startsWith('watchdog pings withheld: the session is neither'))).toHaveLength(1);
    expect(child.logs.some((l) => l.msg === 'watchdog pings resumed: the session is alive again')).toBe(true);
  });

  it('sends STATUS= when the line changes, once per change', async () => {
    const from = receiver.datagrams.length;
    const line = 'reconnecting to mqtt://127.0.0.1:1883 (next attempt in 8 s), outbox 12 pending, last error: connect ECONNREFUSED 127.0.0.1:1883';
    child.command(`status ${line}`);
    child.command(`status ${line}`);
    await receiver.waitForCount('X_TEST=status', 2, 5000, from);
    expect(receiver.datagrams.slice(from).filter((d) => d.text === `STATUS=${line}`)).toHaveLength(1);
  });

  it('sends RELOADING=1 with MONOTONIC_USEC on the system monotonic clock, then READY=1', async () => {
    const from = receiver.datagrams.length;
    child.command('reload');
    const reloading = await receiver.waitFor('RELOADING=1', 5000, from);
    const ready = await receiver.waitFor('READY=1', 5000, from);
    const usec = Number(/MONOTONIC_USEC=(\d+)/.exec(reloading.text)?.[1]);
    // the receiver stamps arrival with CLOCK_MONOTONIC too: the value is just before the arrival
    expect(usec / 1000).toBeLessThanOrEqual(reloading.atMs + 1);
    expect(usec / 1000).toBeGreaterThan(reloading.atMs - 1000);
    expect(reloading.text).toMatch(/^RELOADING=1\nMONOTONIC_USEC=\d+\nSTATUS=reloading configuration$/);
    expect(ready.atMs).toBeGreaterThanOrEqual(reloading.atMs);
  });

  it('sends STOPPING=1 on stop, pings no more, and exits 0', async () => {
    const from = receiver.datagrams.length;
    child.command('stop');
    const stopping = await receiver.waitFor('STOPPING=1', 5000, from);
    expect(stopping.text).toBe('STOPPING=1\nSTATUS=stopping: draining handlers and the outbox');
    await receiver.waitFor('X_TEST=exiting', 5000, from);
    expect(await child.close()).toEqual({ code: 0, signal: null });
    await sleep(INTERVAL_MS * 2);
    expect(watchdogPings(receiver).filter((p) => p.atMs > stopping.atMs)).toEqual([]);
  });
});

describe('SystemdIntegration: stalls against the watchdog period (WatchdogSec=2)', () => {
  const usec = 2_000_000;
  const period = usec / 1000;
  let receiver: NotifyReceiver;
  let child: SystemdChild;

  beforeAll(async () => {
    receiver = await NotifyReceiver.start('path');
    child = SystemdChild.spawn({ NOTIFY_SOCKET: receiver.address, WATCHDOG_USEC: String(usec) });
    await receiver.waitFor('READY=1', 15000);
  });
  afterAll(async () => {
    await child?.close();
    await receiver?.close();
  });

  /** Runs `block ms` and returns the pings from the one before the stall to the second one after it. */
  const stall = async (ms: number): Promise<Datagram[]> => {
    const from = receiver.datagrams.length;
    child.command(`block ${ms}`);
    const start = await receiver.waitFor('X_TEST=block-start', 5000, from);
    const end = await receiver.waitFor('X_TEST=block-end', ms + 5000, from);
    await receiver.waitForCount('WATCHDOG=1', 2, 5000, receiver.datagrams.indexOf(end));
    const pings = watchdogPings(receiver);
    const before = pings.filter((p) => p.atMs < start.atMs);
    const after = pings.filter((p) => p.atMs > end.atMs).slice(0, 2);
    expect(before.length).toBeGreaterThan(0);
    return [before[before.length - 1] as Datagram, ...after];
  };

  it('a stall of 0.6 × the period leaves no gap between pings longer than the period, wherever it starts', async () => {
    // three stalls at different phases of the ping cadence (a ping every period/4)
    for (const offset of [0, period / 8, period / 5]) {
      await sleep(offset);
      const pings = await stall(period * 0.6);
      expect(longestGap(pings)).toBeLessThan(period);
      expect(longestGap(pings)).toBeGreaterThanOrEqual(period * 0.6);
    }
  });

  it('a stall longer than the period does leave such a gap (systemd would act on it)', async () => {
    const pings = await stall(period * 1.2);
    expect(longestGap(pings)).toBeGreaterThan(period);
  });
});

describe('SystemdIntegration: the variants of the environment', () => {
  it('notifies an abstract socket (@name) as well', async () => {
    const receiver = await NotifyReceiver.start('abstract');
    const child = SystemdChild.spawn({ NOTIFY_SOCKET: receiver.address, WATCHDOG_USEC: String(WATCHDOG_USEC) });
    try {
      const ready = await receiver.waitFor('READY=1', 15000);
      await receiver.waitFor('WATCHDOG=1', 5000, receiver.datagrams.indexOf(ready));
      expect(ready.pid).toBe(child.pid);
      child.command('stop');
      await receiver.waitFor('STOPPING=1');
      expect(await child.close()).toEqual({ code: 0, signal: null });
    } finally {
      await child.close();
      await receiver.close();
    }
  });

  it('does not ping when WATCHDOG_PID names another process', async () => {
    const receiver = await NotifyReceiver.start('path');
    const child = SystemdChild.spawn({ NOTIFY_SOCKET: receiver.address, WATCHDOG_USEC: String(WATCHDOG_USEC), WATCHDOG_PID: '1' });
    try {
      await receiver.waitFor('READY=1', 15000);
      await sleep(INTERVAL_MS * 3);
      child.command('stop');
      await receiver.waitFor('STOPPING=1');
      expect(await child.close()).toEqual({ code: 0, signal: null });
      expect(watchdogPings(receiver)).toEqual([]);
      expect(receiver.datagrams.every((d) => d.pid === child.pid)).toBe(true);
    } finally {
      await child.close();
      await receiver.close();
    }
  });

  it('runs quietly without NOTIFY_SOCKET and exits 0', async () => {
    const child = SystemdChild.spawn({ WATCHDOG_USEC: String(WATCHDOG_USEC) });
    try {
      child.command('status nobody listens');
      child.command('stop');
      expect(await child.close(15000)).toEqual({ code: 0, signal: null });
      expect(child.logs.filter((l) => l.level >= 40)).toEqual([]);
      expect(child.logs.some((l) => l.msg.startsWith('NOTIFY_SOCKET is unset'))).toBe(true);
    } finally {
      await child.close();
    }
  });

  it('keeps running, with a warning, when the socket goes away', async () => {
    const receiver = await NotifyReceiver.start('path');
    const child = SystemdChild.spawn({ NOTIFY_SOCKET: receiver.address, WATCHDOG_USEC: String(WATCHDOG_USEC) });
    try {
      await receiver.waitFor('READY=1', 15000);
      await receiver.close();
      await sleep(INTERVAL_MS * 3);
      child.command('stop');
      expect(await child.close()).toEqual({ code: 0, signal: null });
      const failures = child.logs.filter((l) => l.code === 'LIFECYCLE_NOTIFY_FAILED');
      // one line for the first failure, not one per ping
      expect(failures).toHaveLength(1);
      expect(failures[0]).toMatchObject({ level: 40, errno: 'ENOENT' });
      expect(failures[0]?.msg).toContain(`NOTIFY_SOCKET=${receiver.address}`);
    } finally {
      await child.close();
      await receiver.close();
    }
  });
});
