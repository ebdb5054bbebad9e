/** simulator.config.json validation: one line per error, naming the key, the expectation and what was received. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudSimulator } from '../cloud-simulator';
import { ConfigError, loadConfigFile, validateConfig } from '../config/load';
import { connectDevice, PK, silentLogger, testConfig, TSL_PATH } from './harness';

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('validateConfig', () => {
  it('fills defaults', () => {
    const cfg = validateConfig(testConfig());
    expect(cfg.http).toMatchObject({ host: '127.0.0.1', port: 0, timestampSkewSeconds: 900 });
    expect(cfg.mqtt).toMatchObject({ mode: 'embedded', maxPayloadBytes: 262144, maxSubscriptions: 100, keepaliveMin: 30 });
    expect(cfg.cloudValidation).toBe(true);
  });

  it.each([
    [{ http: { port: 'abc' } }, 'config: http.port: expected integer 0..65535, received "abc"'],
    [{ http: { port: 70000 } }, 'config: http.port: expected integer 0..65535, received 70000'],
    [{ mqtt: { mode: 'cloud' } }, 'config: mqtt.mode: expected "embedded", "managed" or "external", received "cloud"'],
    [{ mqtt: { mode: 'external' } }, 'config: mqtt.url: expected an MQTT URL when mqtt.mode is "external", received nothing'],
    [{ limits: { qps: { RRpc: 0 } } }, 'config: limits.qps.RRpc: expected integer 1..1000000, received 0'],
    [{ limits: { qps: { Fly: 3 } } }, 'config: limits.qps.Fly: expected no such key'],
    [{ accessKeys: [] }, 'config: accessKeys: expected a non-empty list of {id, secret}, received []'],
    [{ accessKeys: [{ id: 'a' }] }, 'config: accessKeys.0.secret: expected an AccessKey secret, received nothing'],
    [{ devices: [{ productKey: PK, deviceName: 'x', deviceSecret: 's' }] }, 'config: devices.0.deviceName: expected 4..32 characters'],
    [{ accessKeys: [{ id: 'a', secret: 12345678 }] }, 'config: accessKeys.0.secret: expected an AccessKey secret, received a number (not shown)'],
    [{ cloudValidation: 'no' }, 'config: cloudValidation: expected true or false, received "no"'],
    [{ htp: {} }, 'config: htp: expected no such key (known keys: $schema, http, mqtt, accessKeys'],
  ])('%j → %s', (patch, expected) => {
    const msg = message(() => validateConfig({ ...testConfig(), ...patch }));
    expect(msg.startsWith(expected)).toBe(true);
    expect(msg).not.toContain('\n');
  });

  it('names missing top-level keys', () => {
    expect(message(() => validateConfig({ products: [] }))).toBe('config: accessKeys: expected a non-empty list of {id, secret}, received nothing');
    expect(message(() => validateConfig(42))).toBe('config: expected an object, received 42');
  });

  it('checks what the schema cannot: duplicate ids, unknown products, a bad TSL', () => {
    expect(message(() => validateConfig(testConfig({ accessKeys: [{ id: 'a', secret: 'x' }, { id: 'a', secret: 'y' }] })))).toContain('accessKeys.1.id');
    const twice = testConfig({}, 1);
    twice.devices = [...twice.devices!, ...twice.devices!];
    expect(message(() => validateConfig(twice))).toContain('devices.1.deviceName');
    expect(message(() => new CloudSimulator(testConfig({ devices: [{ productKey: 'a1Other', deviceName: 'gw-001', deviceSecret: 's' }] }), { logger: silentLogger() }))).toContain(
      'devices.0.productKey: expected a configured product (a1GwDemo01), received "a1Other"',
    );
    expect(message(() => new CloudSimulator(testConfig({ products: [{ tsl: '/nonexistent/tsl.json' }] }), { logger: silentLogger() }))).toContain('products.0.tsl');
  });
});

describe('loadConfigFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sim-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads the shipped default config, TSL path resolved against its folder', () => {
    const cfg = loadConfigFile(join(__dirname, '..', 'simulator.config.json'));
    expect(cfg.products[0]?.tsl).toBe(TSL_PATH);
    expect(cfg.devices[0]).toEqual({ productKey: 'a1GwDemo01', deviceName: 'gw-001', deviceSecret: '3f6c0a9d27b84e1c95d2a7e41b08c6f3' });
    // The gateway's two meters of the demo's gateway step (demo/gateway-step.ts).
    expect(cfg.products.map((p) => [p.productKey, p.nodeType])).toEqual([['a1GwDemo01', 'gateway'], ['a1SubDemo01', 'sub']]);
    expect(cfg.devices.slice(1).map((d) => d.deviceName)).toEqual(['meter-01', 'meter-02']);
    expect(cfg.accessKeys).toEqual([{ id: 'testAK', secret: 'testSecret' }]);
  });

  it('names the file in its errors', () => {
    const bad = join(dir, 'simulator.config.json');
    writeFileSync(bad, '{"accessKeys": [{"id": "a", "secret": "b"}], "products": [], "http": {"port": "abc"}}');
    expect(message(() => loadConfigFile(bad))).toBe(`${bad}: http.port: expected integer 0..65535, received "abc"`);
    writeFileSync(bad, '{ not json');
    expect(message(() => loadConfigFile(bad))).toContain(`${bad}: expected JSON`);
    expect(message(() => loadConfigFile(join(dir, 'missing.json')))).toContain('cannot read the file');
  });
});

describe('instances', () => {
  it('two simulators run side by side in one process without sharing anything', async () => {
    const a = new CloudSimulator(testConfig(), { logger: silentLogger() });
    const b = new CloudSimulator(testConfig(), { logger: silentLogger() });
    const [ua, ub] = await Promise.all([a.start(), b.start()]);
    try {
      expect(ua.httpUrl).not.toBe(ub.httpUrl);
      expect(ua.mqttUrl).not.toBe(ub.mqttUrl);
      const d = await connectDevice(ua.mqttUrl, { deviceName: 'gw-001' });
      expect(a.deviceStatus(PK, 'gw-001').status).toBe('ONLINE');
      expect(b.deviceStatus(PK, 'gw-001').status).toBe('UNACTIVE');
      await d.endAsync();
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it('restarts on the same ports', async () => {
    const a = new CloudSimulator(testConfig(), { logger: silentLogger() });
    const first = await a.start();
    await a.stop();
    const second = await a.start();
    await a.stop();
    expect(second).toEqual(first);
  });
});
