/** Presence rules of the device state store. */
import { DeviceStateStore } from '../state/device-state';
import { Ring } from '../state/ring';

describe('reachability', () => {
  const store = () => new DeviceStateStore({ eventHistory: 3, replyHistory: 3 });

  it('is OFFLINE before the first connection, ONLINE while connected', () => {
    const s = store();
    expect(s.reachability('pk', 'dn', 0)).toBe('OFFLINE');
    s.markOnline('pk', 'dn', { keepalive: 60 }, 1000);
    expect(s.reachability('pk', 'dn', 2000)).toBe('ONLINE');
  });

  it('is HALFCONN for 1.5 × keepalive after a drop without DISCONNECT, then OFFLINE', () => {
    const s = store();
    s.markOnline('pk', 'dn', { keepalive: 60 }, 0);
    s.markOffline('pk', 'dn', false, 10_000);
    expect(s.reachability('pk', 'dn', 10_000 + 89_999)).toBe('HALFCONN');
    expect(s.reachability('pk', 'dn', 10_000 + 90_000)).toBe('OFFLINE');
  });

  it('is OFFLINE at once after a clean DISCONNECT', () => {
    const s = store();
    s.markOnline('pk', 'dn', { keepalive: 60 }, 0);
    s.markOffline('pk', 'dn', true, 10_000);
    expect(s.reachability('pk', 'dn', 10_001)).toBe('OFFLINE');
  });
});

describe('Ring', () => {
  it('keeps the newest entries, oldest first', () => {
    const r = new Ring<number>(3);
    for (let i = 1; i <= 5; i++) r.push(i);
    expect(r.toArray()).toEqual([3, 4, 5]);
    expect(r.length).toBe(3);
  });
});
