/**
 * The addon against a receiver that does not use it: python3 binds the socket and reports what arrived.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NotifyReceiver } from './test/notify-receiver';
import * as native from './index';

describe('alink-agent-native', () => {
  let pathReceiver: NotifyReceiver;
  let abstractReceiver: NotifyReceiver;

  beforeAll(async () => {
    [pathReceiver, abstractReceiver] = await Promise.all([NotifyReceiver.start('path'), NotifyReceiver.start('abstract')]);
  });
  afterAll(async () => {
    await Promise.all([pathReceiver?.close(), abstractReceiver?.close()]);
  });

  it('is built from source into build/Release', () => {
    expect(native.path).toBe(join(__dirname, 'build', 'Release', 'alink_notify.node'));
    expect(existsSync(native.path)).toBe(true);
  });

  it.each(['path', 'abstract'] as const)('sends each message as one exact datagram to a %s socket', async (kind) => {
    const receiver = kind === 'path' ? pathReceiver : abstractReceiver;
    const from = receiver.datagrams.length;
    const messages = ['READY=1', 'STATUS=connected to mqtts://h:8883, outbox 3 pending', 'WATCHDOG=1', 'STOPPING=1', `MAINPID=${process.pid}`, 'RELOADING=1\nMONOTONIC_USEC=123'];
    for (const m of messages) expect(native.notify(m, receiver.address)).toBe(true);
    await receiver.waitFor('MONOTONIC_USEC=123', 5000, from);
    const got = receiver.datagrams.slice(from);
    expect(got.map((d) => d.text)).toEqual(messages);
    expect(got.every((d) => d.pid === process.pid)).toBe(true);
  });

  it('sends UTF-8 text unchanged', async () => {
    const from = pathReceiver.datagrams.length;
    native.notify('STATUS=température 21 °C', pathReceiver.address);
    const d = await pathReceiver.waitFor('STATUS=température 21 °C', 5000, from);
    expect(d.text).toBe('STATUS=température 21 °C');
  });

  it('does nothing and returns false when NOTIFY_SOCKET is unset and no path is given', () => {
    const saved = process.env.NOTIFY_SOCKET;
    delete process.env.NOTIFY_SOCKET;
    try {
      expect(native.notify('READY=1')).toBe(false);
    } finally {
      if (saved !== undefined) process.env.NOTIFY_SOCKET = saved;
    }
  });

  it('reads NOTIFY_SOCKET when no path is given', async () => {
    const saved = process.env.NOTIFY_SOCKET;
    process.env.NOTIFY_SOCKET = abstractReceiver.address;
    const from = abstractReceiver.datagrams.length;
    try {
      expect(native.notify('STATUS=from env')).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.NOTIFY_SOCKET;
      else process.env.NOTIFY_SOCKET = saved;
    }
    expect((await abstractReceiver.waitFor('STATUS=from env', 5000, from)).pid).toBe(process.pid);
  });

  it('throws errors with errno codes and the address', () => {
    const missing = join(__dirname, 'no-such-dir', 'notify.sock');
    expect(() => native.notify('READY=1', missing)).toThrow(
      expect.objectContaining({ code: 'ENOENT', errno: 2, syscall: 'sendto', address: missing, message: expect.stringContaining(`ENOENT: sendto ${missing}: `) }),
    );
    expect(() => native.notify('READY=1', 'relative.sock')).toThrow(expect.objectContaining({ code: 'EAFNOSUPPORT', syscall: 'connect' }));
    expect(() => native.notify('READY=1', `/${'x'.repeat(200)}`)).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }));
    expect(() => native.notify('x'.repeat(4097), pathReceiver.address)).toThrow(expect.objectContaining({ code: 'EMSGSIZE' }));
    expect(() => native.notify('', pathReceiver.address)).toThrow(expect.objectContaining({ code: 'EMSGSIZE' }));
    expect(() => native.notify(42 as unknown as string, pathReceiver.address)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  it('reports a socket nobody listens on as ECONNREFUSED, not a hang', () => {
    const abstractNobody = `@alink-agent-test-nobody-${process.pid}-${Date.now()}`;
    expect(() => native.notify('READY=1', abstractNobody)).toThrow(expect.objectContaining({ code: 'ECONNREFUSED', syscall: 'sendto' }));
  });

  it('reads CLOCK_MONOTONIC in microseconds, the clock of process.hrtime', () => {
    const before = process.hrtime.bigint() / 1000n;
    const now = native.monotonicUsec();
    const after = process.hrtime.bigint() / 1000n;
    expect(typeof now).toBe('bigint');
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(after + 1n);
  });
});
