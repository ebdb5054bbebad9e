/** The doctor's sub-device check on real configurations and Thing Model files. */
import { join } from 'node:path';
import { validateConfig } from '../config/load';
import { formatFinding } from './report';
import { checkSubDevices } from './check-sub-devices';

const TSL = join(__dirname, '..', '..', 'simulator', 'tsl');
const base = {
  device: { productKey: 'a1GwDemo01', deviceName: 'gw-001', secret: 's3cret' },
  broker: { url: 'mqtt://127.0.0.1:1883' },
  thingModel: { path: join(TSL, 'example-gateway.json') },
};

const lines = (extra: Record<string, unknown>) => checkSubDevices(validateConfig({ ...base, ...extra })).map(formatFinding);

describe('doctor: sub-devices', () => {
  it('reports each product and how the secrets are given, never a secret', () => {
    const out = lines({
      gateway: { dynamicRegistration: true },
      subDevices: [
        { productKey: 'a1SubDemo01', deviceName: 'sensor-01', secret: 'sub-secret-1', thingModel: { path: join(TSL, 'example-sensor.json') } },
        { productKey: 'a1SubDemo01', deviceName: 'sensor-02' },
      ],
    });
    expect(out).toEqual([
      `ok   sub-devices: product a1SubDemo01: ${join(TSL, 'example-sensor.json')} compiles (5 properties, 2 services)`,
      'ok   sub-devices: 2 configured (secrets: 1 from subDevices[].secret, 1 from thing.sub.register); logins 50 per batch, 180/s',
    ]);
    expect(out.join('\n')).not.toContain('sub-secret-1');
  });

  it('fails a Thing Model of another product', () => {
    const out = lines({ gateway: { products: { a1SubDemo01: { path: join(TSL, 'example-gateway.json') } } } });
    expect(out).toEqual([`FAIL sub-devices: ${join(TSL, 'example-gateway.json')} is the Thing Model of product "a1GwDemo01", expected "a1SubDemo01"`, 'ok   sub-devices: 0 configured; logins 50 per batch, 180/s']);
  });

  it('is skipped when nothing is configured', () => {
    expect(lines({})).toEqual(['skip sub-devices: none configured']);
  });
});
