/** The `gateway` and `subDevices` sections: secrets as the gateway's, one Thing Model per product, each error naming the key. */
import { join } from 'node:path';
import { validateConfig } from './load';

const TSL = join(__dirname, '..', '..', 'simulator', 'tsl');
const SENSOR = join(TSL, 'example-sensor.json');
const base = {
  device: { productKey: 'a1GwDemo01', deviceName: 'gw-001', secret: 'gw-secret' },
  broker: { url: 'mqtt://127.0.0.1:1883' },
  thingModel: { path: join(TSL, 'example-gateway.json') },
};
const sub = (dn: string, extra: Record<string, unknown> = {}) => ({ productKey: 'a1SubDemo01', deviceName: dn, ...extra });
const fails = (extra: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => {
  try {
    validateConfig({ ...base, ...extra }, { env });
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
};

describe('config: gateway and subDevices', () => {
  it('defaults: no sub-devices, the platform-derived pacing', () => {
    const c = validateConfig(base);
    expect(c.subDevices).toEqual([]);
    expect(c.gateway).toMatchObject({ loginBatchSize: 50, loginsPerSecond: 180, topoBatchSize: 30, reconcileTopology: true, pruneTopology: false, products: {} });
  });

  it('resolves each secret source and shares one Thing Model per product', () => {
    const c = validateConfig(
      { ...base, subDevices: [sub('s-0001', { secret: 'inline', thingModel: { path: SENSOR } }), sub('s-0002', { secretEnv: 'SUB_SECRET' })] },
      { env: { SUB_SECRET: ' from-env ' } },
    );
    expect(c.subDevices.map((d) => [d.deviceName, d.secret?.reveal(), d.secretSource])).toEqual([
      ['s-0001', 'inline', 'secret'],
      ['s-0002', 'from-env', 'secretEnv'],
    ]);
    expect(c.gateway.products.a1SubDemo01?.path).toBe(SENSOR);
    expect(JSON.stringify(c)).not.toContain('inline');
  });

  it.each([
    ['no secret', { subDevices: [sub('s-0001', { thingModel: { path: SENSOR } })] }, 'subDevices.0: expected exactly one of secret, secretEnv, secretFile (or gateway.dynamicRegistration: true to register it), received none of them'],
    ['two secrets', { subDevices: [sub('s-0001', { secret: 'a', secretEnv: 'B', thingModel: { path: SENSOR } })] }, 'subDevices.0: expected exactly one of secret, secretEnv, secretFile, received secret and secretEnv'],
    ['no Thing Model', { subDevices: [sub('s-0001', { secret: 'a' })] }, 'subDevices.0.thingModel: expected the Thing Model of product a1SubDemo01 (here, on another entry of the product, or in gateway.products), received none'],
    ['a duplicate', { subDevices: [sub('s-0001', { secret: 'a', thingModel: { path: SENSOR } }), sub('s-0001', { secret: 'b' })] }, 'subDevices.1: expected each sub-device listed once (subDevices.0 is a1SubDemo01/s-0001 already), received "a1SubDemo01/s-0001"'],
    ['the gateway itself', { subDevices: [{ productKey: 'a1GwDemo01', deviceName: 'gw-001', secret: 'a' }] }, 'subDevices.0: expected a device behind the gateway, not the gateway itself, received "a1GwDemo01/gw-001"'],
    ['two models for a product', { subDevices: [sub('s-0001', { secret: 'a', thingModel: { path: SENSOR } }), sub('s-0002', { secret: 'b', thingModel: { path: 'other.json' } })] }, /subDevices\.1\.thingModel: expected the Thing Model of product a1SubDemo01 as subDevices\.0\.thingModel has it \(one per product\), received "other.json"/],
    ['a bad name', { subDevices: [sub('x', { secret: 'a' })] }, /subDevices\.0\.deviceName: expected 4\.\.32 characters/],
    ['a batch above the platform limit', { gateway: { loginBatchSize: 51 } }, 'gateway.loginBatchSize: expected integer in [1, 50], received 51'],
    ['OTA modules of a product with no Thing Model', { gateway: { otaModules: { a1Other: [{ name: 'default', version: { file: 'v' } }] } } }, 'gateway.otaModules.a1Other: expected a sub-device product with a Thing Model (in gateway.products or on a subDevices entry), received "a1Other"'],
    ['an OTA module without a version source', { gateway: { products: { a1SubDemo01: { path: SENSOR } }, otaModules: { a1SubDemo01: [{ name: 'default' }] } } }, 'gateway.otaModules.a1SubDemo01.0.version: expected one of {"file": path}, {"command": shell command}, {"plugin": plugin name}, received nothing'],
  ])('refuses %s with one line naming the key', (_what, extra, expected) => {
    const m = fails(extra);
    if (typeof expected === 'string') expect(m).toBe(`config: ${expected}`);
    else expect(m).toMatch(expected);
  });

  it('a sub-device without a secret is fine with dynamic registration on', () => {
    const c = validateConfig({ ...base, gateway: { dynamicRegistration: true }, subDevices: [sub('s-0001', { thingModel: { path: SENSOR } })] });
    expect(c.subDevices[0]?.secret).toBeUndefined();
  });

  it('takes OTA modules per sub-device product, none by default', () => {
    expect(validateConfig(base).gateway.otaModules).toEqual({});
    const modules = [{ name: 'mcu', version: { command: 'cat /var/lib/{productKey}/{deviceName}.ver' }, install: { command: ['/usr/bin/flash', '--dev', '{deviceName}'] } }];
    const c = validateConfig({ ...base, gateway: { products: { a1SubDemo01: { path: SENSOR } }, otaModules: { a1SubDemo01: modules } } });
    expect(c.gateway.otaModules.a1SubDemo01).toEqual(modules);
  });
});
