/**
 * agent.config.json validation: real files in a temp folder, each bad one failing with exactly one line that
 * names the key, what was expected and what was received.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { inspect } from 'node:util';
import { loadConfigFile, validateConfig } from '../agent/config/load';
import { ConfigError } from '../agent/config/errors';
import { setLogLevel } from '../agent/config/logger';
import { captureLog, DEVICE } from './agent-support';

const dir = mkdtempSync(join(tmpdir(), 'agent-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = () => ({
  device: { productKey: DEVICE.productKey, deviceName: DEVICE.deviceName, secret: DEVICE.secret },
  broker: { url: 'mqtt://127.0.0.1:1883' },
  thingModel: { path: 'tsl.json' },
});

let n = 0;
function write(content: unknown): string {
  const file = join(dir, `c${n++}.json`);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).not.toContain('\n');
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('agent.config.json', () => {
  it('fills every default and resolves paths against the config file', () => {
    const file = write(base());
    const c = loadConfigFile(file);
    expect(c.broker).toMatchObject({
      protocolVersion: 4,
      keepalive: 300,
      signMethod: 'hmacsha256',
      cleanSession: true,
      connectTimeoutMs: 10_000,
      reconnect: { initialMs: 1000, maxMs: 60_000, stableMs: 10_000 },
      scheme: 'mqtt',
      host: '127.0.0.1',
      port: 1883,
      secureMode: 3,
    });
    expect(c.thingModel).toEqual({ path: join(dir, 'tsl.json'), enforceStep: true, partialStructs: false });
    expect(c.dataDir).toBe(join(dir, 'data'));
    expect(c.rrpc).toEqual({ budgetMs: 4000, services: {}, topics: {} });
    expect(c.limits.upstream).toEqual({ maxPayloadBytes: 262_144, maxTopicLength: 127 });
    expect(c.health).toEqual({ enabled: false, host: '127.0.0.1', port: 9464 });
    expect(c.log.level).toBe('info');
    expect(c.handlers).toEqual([]);
    expect(c.outbox).toEqual({ maxRows: 100_000, maxBytes: 67_108_864, overflow: { dropOldestOf: ['property', 'event'] }, ttlMs: { reply: 300_000 }, maxInflight: 1000, synchronous: 'full', history: { afterMs: 82_800_000, policy: 'history' } });
    expect(c.shutdown).toEqual({ drainTimeoutMs: 5000, disconnectTimeoutMs: 2000 });
    expect(Object.isFrozen(c.broker)).toBe(true);
  });

  it('keeps the secret out of JSON, inspection and string conversion', () => {
    const c = loadConfigFile(write(base()));
    expect(c.device.secret.reveal()).toBe(DEVICE.secret);
    expect(JSON.stringify(c)).not.toContain(DEVICE.secret);
    expect(inspect(c, { depth: 10 })).not.toContain(DEVICE.secret);
    expect(`${c.device.secret}`).toBe('[redacted]');
  });

  it('redacts secret-looking keys in log objects, nested too', () => {
    const log = captureLog('info');
    log.logger.info({ password: 'p4ss', device: { secret: 's3cret' }, a: { b: { signature: 'sig' } } }, 'careless line');
    log.logger.child({ component: 'x' }).info({ deviceSecret: 'ds' }, 'child line');
    const text = log.text();
    for (const v of ['p4ss', 's3cret', 'sig"', '"ds"']) expect(text).not.toContain(v);
    expect(log.lines()[0]).toMatchObject({ password: '[redacted]', device: { secret: '[redacted]' }, a: { b: { signature: '[redacted]' } } });
  });

  it('changes the level of the logger and of every child made from it (SIGHUP reload)', () => {
    const log = captureLog('info');
    const child = log.logger.child({ component: 'router' });
    const grandchild = child.child({ plugin: 'p' });
    grandchild.debug('hidden');
    setLogLevel(log.logger, 'debug');
    child.debug('shown 1');
    grandchild.debug('shown 2');
    expect(log.lines().map((l) => l.msg)).toEqual(['shown 1', 'shown 2']);
    setLogLevel(log.logger, 'warn');
    grandchild.info('hidden again');
    expect(log.lines()).toHaveLength(2);
  });

  it('reads the secret from an environment variable or a file', () => {
    const { secret: _s, ...device } = base().device;
    const fromEnv = validateConfig({ ...base(), device: { ...device, secretEnv: 'GW_SECRET' } }, { env: { GW_SECRET: `${DEVICE.secret}\n` } });
    expect(fromEnv.device.secret.reveal()).toBe(DEVICE.secret);
    expect(fromEnv.device.secretSource).toBe('secretEnv');
    writeFileSync(join(dir, 'secret.txt'), `${DEVICE.secret}\n`);
    const fromFile = loadConfigFile(write({ ...base(), device: { ...device, secretFile: 'secret.txt' } }));
    expect(fromFile.device.secret.reveal()).toBe(DEVICE.secret);
  });

  it('accepts the example agent.config.json at the repository root', () => {
    const c = loadConfigFile(resolve(__dirname, '..', 'agent.config.json'));
    expect(c.device).toMatchObject({ productKey: 'a1GwDemo01', deviceName: 'gw-001' });
    expect(c.thingModel.path).toBe(resolve(__dirname, '..', 'simulator', 'tsl', 'example-gateway.json'));
  });

  const { secret: _secret, ...noSecret } = base().device;
  const cases: [string, (f: string) => unknown, string][] = [
    ['unknown key', () => ({ ...base(), broker: { url: 'mqtt://127.0.0.1:1883', keepAlive: 60 } }), 'broker.keepAlive: expected a known key of broker (url, protocolVersion, keepalive, caFile, signMethod, cleanSession, sessionExpirySeconds, connectTimeoutMs, reconnect), received an unknown key'],
    ['unknown top-level key', () => ({ ...base(), brokers: {} }), 'brokers: expected a known key of the top level ($schema, device, broker, thingModel, dataDir, rrpc, deadlines, upstream, postAfterSet, clock, deviceState, handlers, log, health, limits, outbox, shutdown, remoteConfig, tags, logUpload, ota, gateway, subDevices), received an unknown key'],
    ['keepalive out of range', () => ({ ...base(), broker: { url: 'mqtt://127.0.0.1:1883', keepalive: 10 } }), 'broker.keepalive: expected integer in [30, 1200], received 10'],
    ['wrong type', () => ({ ...base(), broker: { url: 'mqtt://127.0.0.1:1883', keepalive: '300' } }), 'broker.keepalive: expected integer in [30, 1200], received "300"'],
    ['missing section', () => ({ device: base().device, broker: base().broker }), 'thingModel: expected an object, received nothing'],
    ['missing key', () => ({ ...base(), device: { productKey: DEVICE.productKey, secret: DEVICE.secret } }), 'device.deviceName: expected 4..32 characters of letters, digits, - _ @ . :, received nothing'],
    ['missing secret', () => ({ ...base(), device: noSecret }), 'device: expected exactly one of secret, secretEnv, secretFile, received none of them'],
    ['two secret sources', () => ({ ...base(), device: { ...base().device, secretEnv: 'GW_SECRET' } }), 'device: expected exactly one of secret, secretEnv, secretFile, received secret and secretEnv'],
    ['secret of the wrong type', () => ({ ...base(), device: { ...noSecret, secret: 12345678 } }), 'device.secret: expected the device secret, received a value that is not shown'],
    ['unset secretEnv', () => ({ ...base(), device: { ...noSecret, secretEnv: 'ALINK_AGENT_TEST_UNSET_VAR' } }), 'device.secretEnv: expected the name of a set, non-empty environment variable, received "ALINK_AGENT_TEST_UNSET_VAR" (not set)'],
    ['missing secretFile', () => ({ ...base(), device: { ...noSecret, secretFile: 'nope.txt' } }), 'device.secretFile: expected a readable file holding the device secret, received "nope.txt" (ENOENT)'],
    ['bad URL scheme', () => ({ ...base(), broker: { url: 'http://127.0.0.1:1883' } }), 'broker.url: expected an mqtt:// or mqtts:// URL such as "mqtt://127.0.0.1:1883", received "http://127.0.0.1:1883"'],
    ['unparsable URL', () => ({ ...base(), broker: { url: 'mqtt//broker' } }), 'broker.url: expected an mqtt:// or mqtts:// URL such as "mqtt://127.0.0.1:1883", received "mqtt//broker"'],
    ['CA without TLS', () => ({ ...base(), broker: { url: 'mqtt://127.0.0.1:1883', caFile: 'ca.pem' } }), 'broker.caFile: expected no CA file with an mqtt:// URL (TLS is off; use mqtts://), received "ca.pem"'],
    ['unreadable CA', () => ({ ...base(), broker: { url: 'mqtts://127.0.0.1:8883', caFile: 'ca.pem' } }), 'broker.caFile: expected a readable PEM file, received "ca.pem" (ENOENT)'],
    ['bad sign method', () => ({ ...base(), broker: { url: 'mqtt://127.0.0.1:1883', signMethod: 'sha256' } }), 'broker.signMethod: expected one of hmacsha256, hmacsha1, hmacmd5, received "sha256"'],
    ['session expiry on MQTT 3.1.1', () => ({ ...base(), broker: { url: 'mqtt://127.0.0.1:1883', sessionExpirySeconds: 60 } }), 'broker.sessionExpirySeconds: expected no session expiry with protocolVersion 4 (it is an MQTT 5 property), received 60'],
    ['RRPC budget over 8 s', () => ({ ...base(), rrpc: { services: { Calibrate: 9000 } } }), 'rrpc.services.Calibrate: expected integer in [100, 8000], received 9000'],
    ['handler without module', () => ({ ...base(), handlers: [{ name: 'x' }] }), 'handlers.0.module: expected a built-in plugin name, a package name or a path relative to the config file, received nothing'],
    ['bad log level', () => ({ ...base(), log: { level: 'verbose' } }), 'log.level: expected one of fatal, error, warn, info, debug, trace, silent, received "verbose"'],
    ['backoff bounds reversed', () => ({ ...base(), broker: { url: 'mqtt://127.0.0.1:1883', reconnect: { initialMs: 5000, maxMs: 1000 } } }), 'broker.reconnect.initialMs: expected at most broker.reconnect.maxMs (1000), received 5000'],
    ['bad outbox overflow', () => ({ ...base(), outbox: { overflow: 'drop' } }), 'outbox.overflow: expected "reject" or {"dropOldestOf": [message classes]}, received "drop"'],
    // The parser's own wording varies with the Node version; the line starts the same.
    ['not JSON', () => '{"device": ', 'expected JSON, received text that does not parse ('],
  ];

  it.each(cases)('%s fails with one line naming the key', (_name, make, expected) => {
    const file = write(make(''));
    const err = errorOf(() => loadConfigFile(file));
    if (expected.endsWith('(')) expect(err.message.startsWith(`${file}: ${expected}`)).toBe(true);
    else expect(err.message).toBe(`${file}: ${expected}`);
    expect(err.message).not.toContain(DEVICE.secret);
  });

  it('names an unreadable file', () => {
    const err = errorOf(() => loadConfigFile(join(dir, 'absent.json')));
    expect(err.message).toBe(`${join(dir, 'absent.json')}: expected a readable JSON file, received an error (ENOENT)`);
  });
});
