import { SubscriptionBook, subackRefusal } from './subscriptions';

describe('subscription bookkeeping', () => {
  it('keeps each filter once, at the highest QoS asked for', () => {
    const b = new SubscriptionBook();
    b.add([
      { topic: 'a', qos: 0 },
      { topic: 'b', qos: 1 },
    ]);
    b.add([
      { topic: 'a', qos: 1 },
      { topic: 'b', qos: 0 },
    ]);
    expect(b.list()).toEqual([
      { topic: 'a', qos: 1 },
      { topic: 'b', qos: 1 },
    ]);
    expect(b.size).toBe(2);
    expect(b.topics()).toEqual(['a', 'b']);
  });

  it('a fresh connection lacks everything; confirmed filters are no longer missing', () => {
    const b = new SubscriptionBook();
    b.add([
      { topic: 'a', qos: 1 },
      { topic: 'b', qos: 0 },
    ]);
    b.newConnection(false, true);
    expect(b.missing()).toEqual([
      ['a', 1],
      ['b', 0],
    ]);
    b.confirmed([['a', 1]]);
    expect(b.missing()).toEqual([['b', 0]]);
    // A filter added while connected, or raised to QoS 1, is missing again.
    b.add([
      { topic: 'b', qos: 1 },
      { topic: 'c', qos: 0 },
    ]);
    expect(b.missing()).toEqual([
      ['b', 1],
      ['c', 0],
    ]);
  });

  it('a kept session has the old subscriptions, except on the first connection of the process', () => {
    const b = new SubscriptionBook();
    b.add([{ topic: 'a', qos: 1 }]);
    b.newConnection(true, true);
    expect(b.missing()).toEqual([['a', 1]]);
    b.confirmed([['a', 1]]);
    b.newConnection(true, false);
    expect(b.missing()).toEqual([]);
    b.newConnection(false, false);
    expect(b.missing()).toEqual([['a', 1]]);
  });

  it('asks for ext=1 only when an /ext/rrpc/ filter is wanted', () => {
    const b = new SubscriptionBook();
    b.add([{ topic: '/sys/pk/dev/rrpc/request/+', qos: 0 }]);
    expect(b.wantsExtRrpc()).toBe(false);
    b.add([{ topic: '/ext/rrpc/+/a', qos: 0 }]);
    expect(b.wantsExtRrpc()).toBe(true);
  });

  it('finds the first filter a SUBACK refused', () => {
    const subs: Array<[string, 0 | 1]> = [
      ['a', 1],
      ['b', 0],
      ['c', 1],
    ];
    expect(subackRefusal(subs, [1, 0, 1])).toBeUndefined();
    expect(subackRefusal(subs, undefined)).toBeUndefined();
    expect(subackRefusal(subs, [1, 0x80, 0x87])).toEqual({ topic: 'b', reasonCode: 0x80 });
    expect(subackRefusal(subs, [0x87, 0, 1])).toEqual({ topic: 'a', reasonCode: 0x87 });
  });
});
