import type { IConnackPacket } from 'mqtt';
import pino from 'pino';
import { ConnectGate, type GateStep, type PacketIds } from './connect-gate';

const silent = pino({ level: 'silent' });
const connack = (): IConnackPacket => ({ cmd: 'connack', returnCode: 0, sessionPresent: false });

/** A packet-id provider like MQTT.js's UniqueMessageIdProvider: register fails for an id already taken. */
function ids(): PacketIds & { taken: Set<number> } {
  const taken = new Set<number>();
  return {
    taken,
    register: (id) => (taken.has(id) ? false : (taken.add(id), true)),
    deallocate: (id) => void taken.delete(id),
  };
}

function deferred(): { promise: Promise<void>; resolve(): void; reject(e: Error): void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

describe('the connect gate', () => {
  it('starts the step once per CONNACK whether the store asks first or connect does', () => {
    const starts: IConnackPacket[] = [];
    const gate = new ConnectGate<GateStep>(ids(), (p) => (starts.push(p), { ready: Promise.resolve() }), silent);
    const a = connack();
    gate.connackReceived(a);
    void gate.hold([]);
    expect(gate.take(a)).toBeDefined();
    expect(starts).toEqual([a]);
    // Without an in-flight store (no outbox) connect alone starts it.
    const b = connack();
    gate.connackReceived(b);
    gate.take(b);
    expect(starts).toEqual([a, b]);
  });

  it('holds the re-send until the step settles, reserving the window ids before the step runs and releasing them after', async () => {
    const provider = ids();
    const step = deferred();
    let takenDuringStep: number[] = [];
    const gate = new ConnectGate<GateStep>(provider, () => ((takenDuringStep = [...provider.taken]), { ready: step.promise }), silent);
    gate.connackReceived(connack());
    let open = false;
    void gate.hold([3, 4])?.then(() => (open = true));
    // The step's SUBSCRIBE must not take an id the window's packets still carry.
    expect(takenDuringStep).toEqual([3, 4]);
    await Promise.resolve();
    expect(open).toBe(false);
    step.resolve();
    await new Promise((r) => setImmediate(r));
    expect(open).toBe(true);
    expect([...provider.taken]).toEqual([]);
  });

  it('a failed step still opens the gate (the session reports it) and releases the ids', async () => {
    const provider = ids();
    const step = deferred();
    const gate = new ConnectGate<GateStep>(provider, () => ({ ready: step.promise }), silent);
    gate.connackReceived(connack());
    const held = gate.hold([7]);
    step.reject(new Error('SUBACK 0x87'));
    await expect(held).resolves.toBeUndefined();
    expect(provider.taken.size).toBe(0);
  });

  it('a step that throws opens at once, with a warning, instead of holding the messages for good', () => {
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
    const provider = ids();
    const gate = new ConnectGate<GateStep>(
      provider,
      () => {
        throw new Error('boom');
      },
      log,
    );
    gate.connackReceived(connack());
    expect(gate.hold([1, 2])).toBeUndefined();
    expect(provider.taken.size).toBe(0);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ err: 'boom', msg: 'the gate before sending on a new connection failed; sending anyway' });
  });

  it('holds nothing without a CONNACK, or when the session has nothing to start (stopping)', () => {
    const provider = ids();
    const gate = new ConnectGate<GateStep>(provider, () => undefined, silent);
    expect(gate.hold([1])).toBeUndefined();
    gate.connackReceived(connack());
    expect(gate.hold([1])).toBeUndefined();
    expect(provider.taken.size).toBe(0);
  });

  it('forgets the step of a connection that closed: the same CONNACK seen again starts anew', () => {
    let n = 0;
    const gate = new ConnectGate<GateStep & { n: number }>(ids(), () => ({ ready: Promise.resolve(), n: ++n }), silent);
    const a = connack();
    gate.connackReceived(a);
    void gate.hold([]);
    gate.connectionClosed();
    expect(gate.hold([])).toBeUndefined();
    expect(gate.take(a)?.n).toBe(2);
  });
});
