import { RecentAcks } from './recent-acks';
import type { OutboxRow } from './table';

const row = (seq: number, topic = `/a1Sub/m-${seq}/user/x`, size = 10): OutboxRow => ({
  seq,
  topic,
  payload: Buffer.from(`p${seq}`),
  props: null,
  cls: 'property',
  size,
  created_at: 0,
  expires_at: null,
});

describe('RecentAcks', () => {
  it('gives back, oldest first and once, what a key acknowledged within the window', () => {
    const r = new RecentAcks(1000, 100, 10_000);
    r.add('a', row(1), 0);
    r.add('b', row(2), 10);
    r.add('a', row(3), 20);
    expect(r.take('a', 500).map((x) => x.seq)).toEqual([1, 3]);
    expect(r.take('a', 500)).toEqual([]);
    expect(r.take('b', 500).map((x) => x.seq)).toEqual([2]);
    expect(r.size).toBe(0);
  });

  it('forgets what is older than the window', () => {
    const r = new RecentAcks(1000, 100, 10_000);
    r.add('a', row(1), 0);
    r.add('a', row(2), 900);
    expect(r.take('a', 1500).map((x) => x.seq)).toEqual([2]);
  });

  it('keeps at most max entries and maxBytes, the oldest leaving first', () => {
    const byCount = new RecentAcks(60_000, 3, 10_000);
    for (let i = 1; i <= 5; i++) byCount.add('a', row(i), i);
    expect(byCount.size).toBe(3);
    expect(byCount.take('a', 10).map((x) => x.seq)).toEqual([3, 4, 5]);
    const byBytes = new RecentAcks(60_000, 100, 25);
    for (let i = 1; i <= 4; i++) byBytes.add('a', row(i), i);
    expect(byBytes.take('a', 10).map((x) => x.seq)).toEqual([3, 4]);
  });

  it('stays bounded under a long stream (the dead front is compacted)', () => {
    const r = new RecentAcks(100, 1_000_000, 1e12);
    for (let i = 0; i < 50_000; i++) r.add('a', row(i), i);
    expect(r.size).toBeLessThanOrEqual(101);
    expect((r as unknown as { entries: unknown[] }).entries.length).toBeLessThan(3000);
  });
});
