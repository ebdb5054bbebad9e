import { EventEmitter } from 'node:events';
import pino from 'pino';
import { handleSignals, SignalTarget } from './shutdown';

const logger = pino({ level: 'silent' });

function harness(target: Partial<SignalTarget>, stopTimeoutMs = 2000) {
  const source = new EventEmitter();
  const exits: number[] = [];
  const t: SignalTarget = { stop: async () => undefined, reload: async () => undefined, ...target };
  const uninstall = handleSignals(t, { logger, exit: (c) => exits.push(c), stopTimeoutMs, source: source as never });
  return { source, exits, uninstall };
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

describe('signal handling', () => {
  it('stops on SIGTERM and exits 0', async () => {
    let stopped = 0;
    const h = harness({ stop: async () => void stopped++ });
    h.source.emit('SIGTERM', 'SIGTERM');
    await tick();
    expect(stopped).toBe(1);
    expect(h.exits).toEqual([0]);
    h.uninstall();
    expect(h.source.listenerCount('SIGTERM')).toBe(0);
  });

  it('exits 1 at once on a second signal while stopping', async () => {
    let finish!: () => void;
    const h = harness({ stop: () => new Promise<void>((r) => (finish = r)) });
    h.source.emit('SIGINT', 'SIGINT');
    h.source.emit('SIGTERM', 'SIGTERM');
    expect(h.exits).toEqual([1]);
    finish();
    await tick();
    expect(h.exits).toEqual([1]);
    h.uninstall();
  });

  it('exits 1 when the clean stop takes longer than its bound', async () => {
    let finish!: () => void;
    const h = harness({ stop: () => new Promise<void>((r) => (finish = r)) }, 50);
    h.source.emit('SIGTERM', 'SIGTERM');
    await tick(80);
    expect(h.exits).toEqual([1]);
    finish();
    h.uninstall();
  });

  it('exits 1 when stop fails', async () => {
    const h = harness({ stop: async () => Promise.reject(new Error('disk gone')) });
    h.source.emit('SIGTERM', 'SIGTERM');
    await tick();
    expect(h.exits).toEqual([1]);
    h.uninstall();
  });

  it('reloads on SIGHUP one at a time, runs one more for a SIGHUP during a reload, and survives a failing reload', async () => {
    let running = 0;
    let maxRunning = 0;
    let calls = 0;
    const h = harness({
      reload: async () => {
        calls++;
        running++;
        maxRunning = Math.max(maxRunning, running);
        await tick(20);
        running--;
        if (calls === 1) throw new Error('bad file');
      },
    });
    h.source.emit('SIGHUP', 'SIGHUP');
    h.source.emit('SIGHUP', 'SIGHUP');
    h.source.emit('SIGHUP', 'SIGHUP');
    await tick(100);
    expect(calls).toBe(2);
    expect(maxRunning).toBe(1);
    expect(h.exits).toEqual([]);
    h.uninstall();
  });
});
