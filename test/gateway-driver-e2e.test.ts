/**
 * The example driver plugin (handlers/examples/meter-driver.ts) in a real gateway agent, on both simulator brokers,
 * through the official cloud SDK: it adds its meters with ctx.gateway at start (products configured in
 * gateway.products), they come online, their readings reach the platform, sets and services reach the right meter,
 * and a meter that drops out is reported lost (logged out) and found again (logged in).
 */
import { join } from 'node:path';
import * as $Iot from '@alicloud/iot20180120';
import { createIotClient, longCallRuntime } from '../simulator/sdk-client';
import type { CloudSimulator } from '../simulator/cloud-simulator';
import meterDriver from '../handlers/examples/meter-driver';
import type { PluginConfig } from '../agent/plugins/loader';
import { waitFor } from './helpers/brokers';
import { makeAgent, startGatewaySimulator, type TestAgent } from './agent-e2e-support';

const SUB_PK = 'a1SubDemo01';
const SUB_SECRET = '9c1f4e2a7b3d4c5e8f60718293a4b5c6';
const SENSOR_TSL = join(__dirname, '..', 'simulator', 'tsl', 'example-sensor.json');
const sub = (deviceName: string) => ({ productKey: SUB_PK, deviceName });

describe.each(['embedded', 'managed'] as const)('the example meter driver in a gateway agent (%s broker)', (mode) => {
  let sim: CloudSimulator;
  let iot: ReturnType<typeof createIotClient>;
  let t: TestAgent;

  beforeAll(async () => {
    let httpUrl: string;
    let mqttUrl: string;
    ({ sim, httpUrl, mqttUrl } = await startGatewaySimulator(mode, ['meter-01', 'meter-02']));
    iot = createIotClient(httpUrl);
    const driver = {
      module: 'meter-driver',
      plugin: meterDriver,
      options: {
        pollIntervalMs: 200,
        meters: [
          { deviceName: 'meter-01', address: 1, deviceSecret: SUB_SECRET, powerW: 3600 },
          { deviceName: 'meter-02', address: 2, deviceSecret: SUB_SECRET, dropouts: [{ afterMs: 3000, forMs: 2000 }] },
        ],
      },
    } as unknown as PluginConfig;
    t = await makeAgent(
      mqttUrl,
      {
        broker: { url: mqttUrl, protocolVersion: mode === 'managed' ? 5 : 4, reconnect: { initialMs: 100, maxMs: 500, stableMs: 1000 }, connectTimeoutMs: 3000 },
        postAfterSet: { enabled: false },
        gateway: { products: { [SUB_PK]: { path: SENSOR_TSL } } },
      },
      { plugins: [driver] },
    );
    await t.agent.start();
  });

  afterAll(async () => {
    await t?.cleanup();
    await sim?.stop();
    expect(t.log.text()).not.toContain(SUB_SECRET);
  });

  it('adds its meters, posts their readings, takes sets and services, and follows a dropout', async () => {
    await waitFor(() => t.agent.gateway.counts().online === 2, 10_000, 'both meters online');
    await waitFor(
      async () => {
        const s = await iot.queryDevicePropertyStatus(new $Iot.QueryDevicePropertyStatusRequest({ ...sub('meter-01') }));
        return (s.body.data?.list?.propertyStatusInfo ?? []).some((p) => p.identifier === 'Energy' && p.value !== undefined);
      },
      5000,
      'meter-01 Energy at the platform',
    );
    const set = await iot.setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...sub('meter-02'), items: JSON.stringify({ SetPoint: 22.5 }) }));
    expect((await sim.waitForDeviceReply(sub('meter-02'), (x) => x.kind === 'propertySetReply' && x.id === set.body.data?.messageId, 5000)).code).toBe(200);
    const sync = await iot.invokeThingServiceWithOptions(new $Iot.InvokeThingServiceRequest({ ...sub('meter-01'), identifier: 'ReadMeter', args: '{}' }), longCallRuntime());
    expect(sync.body.success).toBe(true);
    expect(typeof JSON.parse(sync.body.data?.result ?? '{}').Energy).toBe('number');
    const reset = await iot.invokeThingService(new $Iot.InvokeThingServiceRequest({ ...sub('meter-01'), identifier: 'Reset', args: JSON.stringify({ DelaySeconds: 1 }) }));
    expect((await sim.waitForDeviceReply(sub('meter-01'), (x) => x.kind === 'serviceReply' && x.id === reset.body.data?.messageId, 5000)).code).toBe(200);
    await waitFor(() => t.agent.gateway.api.status(sub('meter-02'))?.state === 'offline', 8000, 'meter-02 lost and logged out');
    expect(t.agent.gateway.api.status(sub('meter-02'))?.reason).toMatch(/lost/);
    await waitFor(() => t.agent.gateway.counts().online === 2, 10_000, 'meter-02 found and online again');
  }, 60_000);
});
