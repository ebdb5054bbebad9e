import { Backoff } from './backoff';

describe('reconnect backoff (exponential, full jitter)', () => {
  it('doubles its ceiling per failed attempt up to maxMs, drawing up to the ceiling', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0.999999 });
    const delays = Array.from({ length: 6 }, () => b.next());
    expect(delays).toEqual([100, 199, 399, 799, 999, 999]); // the first draw, 99, is raised to the floor
    expect(b.attempts).toBe(6);
  });

  it('draws uniformly below the ceiling, never under the floor', () => {
    const draws = [0, 0.5, 0.25];
    const b = new Backoff({ initialMs: 1000, maxMs: 60_000, random: () => draws.shift() ?? 0 });
    expect(b.next()).toBe(100); // 0 × 1000, raised to the default floor min(100, initialMs)
    expect(b.next()).toBe(1000); // 0.5 × 2000
    expect(b.next()).toBe(1000); // 0.25 × 4000
  });

  it('starts again from initialMs after reset', () => {
    const b = new Backoff({ initialMs: 50, maxMs: 10_000, random: () => 0.999 });
    for (let i = 0; i < 8; i++) b.next();
    expect(b.ceiling()).toBe(10_000);
    b.reset();
    expect(b.ceiling()).toBe(50);
    expect(b.next()).toBe(50);
  });

  it('stays finite and bounded after very many attempts', () => {
    const b = new Backoff({ initialMs: 1000, maxMs: 30_000, floorMs: 10 });
    let max = 0;
    for (let i = 0; i < 2000; i++) {
      const d = b.next();
      expect(d).toBeGreaterThanOrEqual(10);
      max = Math.max(max, d);
    }
    expect(max).toBeLessThanOrEqual(30_000);
    expect(Number.isFinite(b.ceiling())).toBe(true);
  });

  it('spreads delays: real randomness gives different values across a fleet', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 50; i++) seen.add(new Backoff({ initialMs: 10_000, maxMs: 60_000 }).next());
    expect(seen.size).toBeGreaterThan(10);
  });
});
