import { LOGIN_BATCH_MAX, SUB_LOGINS_PER_SECOND_MAX, TOPO_BATCH_MAX } from '../../../thing-model/wire';
import { chunks, RateWindow, windowFillingSize } from './pacing';

describe('chunks', () => {
  it('splits 2000 sub-devices into login batches of at most 50 and topology batches of at most 30, in order', () => {
    const ids = Array.from({ length: 2000 }, (_, i) => i);
    const logins = chunks(ids, LOGIN_BATCH_MAX);
    expect(logins).toHaveLength(40);
    expect(logins.every((c) => c.length === 50)).toBe(true);
    const topo = chunks(ids, TOPO_BATCH_MAX);
    expect(topo).toHaveLength(67);
    expect(topo[66]).toHaveLength(2000 - 66 * 30);
    expect(topo.flat()).toEqual(ids);
  });

  it('gives no chunk for nothing and refuses a size below 1', () => {
    expect(chunks([], 50)).toEqual([]);
    expect(() => chunks([1], 0)).toThrow('chunk size: expected an integer ≥ 1, received 0');
  });
});

describe('RateWindow', () => {
  it('lets 40 batches of 50 through at 180 per second with no one-second window above 180', () => {
    let now = 0;
    const w = new RateWindow(180, () => now);
    const sends: Array<[number, number]> = [];
    for (let i = 0; i < 40; i++) {
      const delay = w.reserve(50);
      now += delay;
      sends.push([now, 50]);
    }
    for (const [t] of sends) {
      const inWindow = sends.filter(([s]) => s > t - 1000 && s <= t).reduce((a, [, c]) => a + c, 0);
      expect(inWindow).toBeLessThanOrEqual(180);
    }
    // Three whole batches fit a window of 180: batch i goes at floor(i / 3) s, the 40th at 13 s.
    const last = (sends[sends.length - 1] as [number, number])[0];
    expect(last).toBe(13_000);
  });

  it('sends at once while the window has room, and refuses more than the window holds', () => {
    let now = 0;
    const w = new RateWindow(SUB_LOGINS_PER_SECOND_MAX, () => now);
    expect(w.reserve(100)).toBe(0);
    expect(w.reserve(100)).toBe(0);
    expect(w.reserve(1)).toBe(1000);
    now = 5000;
    expect(w.reserve(200)).toBe(0);
    expect(() => w.reserve(201)).toThrow('201 sends exceed the 200 allowed per 1000 ms');
  });

  it('take waits the reserved delay and stops on abort', async () => {
    const w = new RateWindow(1);
    await w.take(1);
    const ac = new AbortController();
    const waiting = w.take(1, ac.signal);
    ac.abort(new Error('stopping'));
    await expect(waiting).rejects.toThrow('stopping');
  });
});

describe('windowFillingSize', () => {
  it('picks the batch size whose whole batches fill the login window: 45 at 180/s, 50 at 200/s, the rate when it is smaller', () => {
    expect(windowFillingSize(LOGIN_BATCH_MAX, 180)).toBe(45);
    expect(windowFillingSize(LOGIN_BATCH_MAX, SUB_LOGINS_PER_SECOND_MAX)).toBe(50);
    expect(windowFillingSize(20, 180)).toBe(20);
    expect(windowFillingSize(50, 30)).toBe(30);
    expect(windowFillingSize(50, 97)).toBe(48);
    expect(windowFillingSize(2, 3)).toBe(1);
  });

  it('2000 sub-devices at 180 per second: batches of 45 go out in 11 s, batches of 50 in 13 s', () => {
    const lastSend = (size: number) => {
      let now = 0;
      const w = new RateWindow(180, () => now);
      for (const part of chunks(Array.from({ length: 2000 }, (_, i) => i), size)) now += w.reserve(part.length);
      return now;
    };
    expect(lastSend(windowFillingSize(50, 180))).toBe(11_000);
    expect(lastSend(50)).toBe(13_000);
  });
});
