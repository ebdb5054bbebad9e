import { ConnectionHealth } from './connection';

describe('ConnectionHealth', () => {
  let now = new Date('2026-03-01T10:00:00.000Z');
  const clock = () => now;
  const at = (iso: string) => (now = new Date(iso));

  it('is healthy only while connected, and says since when it is not', () => {
    at('2026-03-01T10:00:00.000Z');
    const h = new ConnectionHealth({ brokerUrl: 'mqtts://user:secret@broker.example:8883', clock });
    expect(h.report()).toEqual({
      healthy: false,
      reason: 'not connected yet (starting since 2026-03-01T10:00:00.000Z)',
      details: { state: 'idle', since: '2026-03-01T10:00:00.000Z', broker: 'mqtts://broker.example:8883' },
    });
    expect(h.isAlive()).toBe(false);
    h.update({ state: 'connecting' });
    expect(h.isAlive()).toBe(true);
    at('2026-03-01T10:00:01.000Z');
    h.update({ state: 'connected' });
    expect(h.report()).toEqual({ healthy: true, details: { state: 'connected', since: '2026-03-01T10:00:01.000Z', broker: 'mqtts://broker.example:8883' } });

    at('2026-03-01T11:00:00.000Z');
    h.update({ state: 'reconnecting', error: new Error('connect ECONNREFUSED 10.0.0.1:8883'), retryInMs: 2000 });
    at('2026-03-01T11:00:02.000Z');
    h.update({ state: 'reconnecting', error: 'read ECONNRESET\nmore', retryInMs: 4000 });
    expect(h.isAlive()).toBe(true);
    expect(h.report()).toMatchObject({ healthy: false, reason: 'disconnected since 2026-03-01T11:00:00.000Z: read ECONNRESET more' });
    expect(h.snapshot()).toEqual({ state: 'reconnecting', brokerUrl: 'mqtts://broker.example:8883', lastError: 'read ECONNRESET more', retryInMs: 4000 });

    // back up: the error is over, and neither the STATUS= fields nor /healthz keep it
    h.update({ state: 'connected' });
    expect(h.snapshot()).toEqual({ state: 'connected', brokerUrl: 'mqtts://broker.example:8883', lastError: undefined, retryInMs: undefined });
    h.update({ state: 'reconnecting', retryInMs: 1000 });
    expect(h.report()).toMatchObject({ reason: 'disconnected since 2026-03-01T11:00:02.000Z: connection lost' });

    at('2026-03-01T12:00:00.000Z');
    h.update({ state: 'stopped' });
    expect(h.isAlive()).toBe(false);
    expect(h.report()).toMatchObject({ healthy: false, reason: 'stopped since 2026-03-01T12:00:00.000Z' });
  });
});
