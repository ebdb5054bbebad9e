/** Which broker `npm start` runs on: managed where mosquitto can run, embedded otherwise, and it says why. */
import { validateConfig } from '../config/load';
import { preferManagedBroker } from '../broker-choice';
import { testConfig } from './harness';

const embedded = () => validateConfig({ ...testConfig(), mqtt: { mode: 'embedded' } });

describe('preferManagedBroker', () => {
  it('switches an embedded config to managed where mosquitto, its headers and a compiler are installed', () => {
    const c = preferManagedBroker(embedded(), { ok: true, mosquitto: '/usr/sbin/mosquitto', cc: '/usr/bin/cc' });
    expect(c.config.mqtt.mode).toBe('managed');
    expect(c.description).toBe('managed mosquitto /usr/sbin/mosquitto (MQTT 5, Alink authentication and ACL plugin)');
  });

  it('stays embedded otherwise and says what is missing', () => {
    const c = preferManagedBroker(embedded(), { ok: false, why: 'mosquitto is not installed (apt-get install ...)' });
    expect(c.config.mqtt.mode).toBe('embedded');
    expect(c.description).toContain('embedded aedes (MQTT 3.1.1, Alink authentication); managed mosquitto unavailable: mosquitto is not installed');
  });

  it('leaves an external config alone', () => {
    const ext = validateConfig({ ...testConfig(), mqtt: { mode: 'external', url: 'mqtt://127.0.0.1:1' } });
    expect(preferManagedBroker(ext, { ok: true, mosquitto: 'x', cc: 'y' }).config.mqtt.mode).toBe('external');
  });
});
