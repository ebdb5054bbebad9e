/**
 * The whole API suite (api.test.ts) again, with its simulators on the managed MQTT 5 broker (mosquitto with the
 * Alink plugin): every cloud action reaches devices there exactly as on the embedded broker.
 */
import { CloudSimulator } from '../cloud-simulator';
import { silentLogger, testConfig } from './harness';

process.env.SIM_TEST_BROKER = 'managed';
// eslint-disable-next-line @typescript-eslint/no-require-imports
require('./api.test');

it('runs those simulators on the managed broker', async () => {
  const sim = new CloudSimulator(testConfig(), { logger: silentLogger() });
  expect(sim.config.mqtt.mode).toBe('managed');
  const ready = new Promise<unknown>((r) => sim.once('ready', r));
  await sim.start();
  await ready;
  await sim.stop();
});
