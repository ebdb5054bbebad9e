import { classifyClose, closeLogLevel, type CloseFacts } from './close-cause';

const facts = (f: Partial<CloseFacts>): CloseFacts => ({
  lifetimeMs: 60_000,
  stableMs: 1500,
  shortLivedInARow: 0,
  serverDisconnectReason: undefined,
  attemptError: undefined,
  protocolVersion: 5,
  ...f,
});

const refused = (code: number) => Object.assign(new Error(`Connection refused: ${code}`), { code });

describe('why a connection closed', () => {
  it('before CONNACK: from the error MQTT.js emitted, else the network; the short-lived count is left alone', () => {
    expect(classifyClose(facts({ lifetimeMs: undefined, shortLivedInARow: 1 }))).toEqual({
      cause: 'network',
      error: new Error('connection closed before CONNACK'),
      shortLivedInARow: 1,
    });
    const v5 = classifyClose(facts({ lifetimeMs: undefined, attemptError: refused(0x86) }));
    expect(v5.cause).toBe('auth');
    expect(classifyClose(facts({ lifetimeMs: undefined, protocolVersion: 4, attemptError: refused(5) })).cause).toBe('auth');
    expect(classifyClose(facts({ lifetimeMs: undefined, protocolVersion: 4, attemptError: refused(3) })).cause).toBe('refused');
    expect(classifyClose(facts({ lifetimeMs: undefined, attemptError: new Error('connack timeout') })).cause).toBe('timeout');
  });

  it('a DISCONNECT 0x8e is a takeover, at once', () => {
    const v = classifyClose(facts({ serverDisconnectReason: 0x8e }));
    expect(v).toEqual({ cause: 'kicked', error: new Error('the broker disconnected this session: session taken over (0x8e)'), shortLivedInARow: 0 });
  });

  it('two short-lived connections in a row mean a duplicate login; a stable one resets the count', () => {
    const first = classifyClose(facts({ lifetimeMs: 200 }));
    expect(first).toMatchObject({ cause: 'network', shortLivedInARow: 1 });
    expect(first.error.message).toBe('connection lost');
    const second = classifyClose(facts({ lifetimeMs: 200, shortLivedInARow: first.shortLivedInARow }));
    expect(second).toEqual({ cause: 'kicked', error: new Error('the broker closed 2 connections in a row within 1500 ms of CONNACK'), shortLivedInARow: 2 });
    expect(classifyClose(facts({ lifetimeMs: 5000, shortLivedInARow: 5 })).shortLivedInARow).toBe(0);
  });

  it('another DISCONNECT reason is the server closing; otherwise the emitted error decides', () => {
    expect(classifyClose(facts({ serverDisconnectReason: 0x8b }))).toMatchObject({
      cause: 'server',
      error: new Error('the broker sent DISCONNECT with reason code 0x8b'),
    });
    const e = new Error('Keepalive timeout');
    expect(classifyClose(facts({ attemptError: e }))).toEqual({ cause: 'timeout', error: e, shortLivedInARow: 0 });
  });

  it('causes an operator must act on log as errors', () => {
    expect(['auth', 'tls', 'kicked'].map((c) => closeLogLevel(c as never))).toEqual(['error', 'error', 'error']);
    expect(['network', 'timeout', 'refused', 'server'].map((c) => closeLogLevel(c as never))).toEqual(['warn', 'warn', 'warn', 'warn']);
  });
});
