/**
 * End to end, on both simulator brokers (embedded aedes / MQTT 3.1.1 and managed mosquitto / MQTT 5): the device
 * state channels of issue 15 through the official cloud SDK and a real agent — property get, desired values,
 * the device shadow and the NTP-corrected clock.
 */
import * as $Iot from '@alicloud/iot20180120';
import { createIotClient } from '../simulator/sdk-client';
import type { CloudSimulator } from '../simulator/cloud-simulator';
import { waitFor } from './helpers/brokers';
import { DEVICE } from './agent-support';
import { ID, makeAgent, startSimulator, TestAgent } from './agent-e2e-support';

const TWO_DAYS_MS = 2 * 24 * 3600 * 1000;

describe.each(['embedded', 'managed'] as const)('device state on the %s broker', (mode) => {
  let sim: CloudSimulator;
  let mqttUrl: string;
  let iot: ReturnType<typeof createIotClient>;
  let main: TestAgent;
  const extra: TestAgent[] = [];
  const base = { productKey: ID.productKey, deviceName: ID.deviceName };
  const protocolVersion = mode === 'managed' ? 5 : 4;
  const agentFor = async (deviceName: string, now?: () => number) => {
    const t = await makeAgent(mqttUrl, { broker: { url: mqttUrl, protocolVersion, reconnect: { initialMs: 200, maxMs: 2000 }, connectTimeoutMs: 3000 } }, { deviceName, ...(now ? { now } : {}) });
    extra.push(t);
    return t;
  };

  beforeAll(async () => {
    let httpUrl: string;
    ({ sim, httpUrl, mqttUrl } = await startSimulator({ mqtt: { mode } }, 4));
    iot = createIotClient(httpUrl);
    main = await makeAgent(mqttUrl, { broker: { url: mqttUrl, protocolVersion, reconnect: { initialMs: 200, maxMs: 2000 }, connectTimeoutMs: 3000 } });
    await main.agent.start();
  });

  afterAll(async () => {
    for (const t of extra) await t.cleanup();
    await main?.cleanup();
    await sim?.stop();
    expect(main.log.text()).not.toContain(DEVICE.secret);
  });

  it('answers a property get with the current values, and 460 naming an unknown identifier', async () => {
    const set = await iot.setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...base, items: JSON.stringify({ ReportInterval: 45 }) }));
    expect((await sim.waitForDeviceReply(ID, (r) => r.kind === 'propertySetReply' && r.id === set.body.data?.messageId, 5000)).code).toBe(200);
    expect(await sim.getDeviceProperties(ID, ['ReportInterval'])).toMatchObject({ code: 200, data: { ReportInterval: 45 } });
    const unknown = (await sim.getDeviceProperties(ID, ['ReportInterval', 'FanSpeed'])) as { code: number; message: string };
    expect(unknown.code).toBe(460);
    expect(unknown.message).toContain('FanSpeed');
  });

  it('applies a desired value set while the agent was offline on its next connect, then clears it', async () => {
    const dev = { productKey: ID.productKey, deviceName: 'gw-002' };
    const first = await agentFor('gw-002');
    await first.agent.start();
    await first.agent.stop();
    const res = await iot.setDeviceDesiredProperty(new $Iot.SetDeviceDesiredPropertyRequest({ ...dev, items: JSON.stringify({ WorkMode: 2, ReportInterval: 300, TempAlarmThreshold: 9999 }), versions: '{}' }));
    expect(res.body.success).toBe(true);
    expect(res.body.data?.messageId).toBeUndefined(); // offline: nothing sent, the value waits
    expect(JSON.parse(res.body.data?.versions ?? '{}')).toEqual({ WorkMode: 1, ReportInterval: 1, TempAlarmThreshold: 1 });
    // A stale version is refused.
    const stale = await iot.setDeviceDesiredProperty(new $Iot.SetDeviceDesiredPropertyRequest({ ...dev, items: JSON.stringify({ WorkMode: 1 }), versions: JSON.stringify({ WorkMode: 0 }) }));
    expect(stale.body.success).toBe(false);
    expect(stale.body.code).toBe('iot.thing.DesiredPropertyVersionMismatch');

    const again = await agentFor('gw-002');
    await again.agent.start();
    await waitFor(async () => (await sim.getDeviceProperties(dev, ['WorkMode', 'ReportInterval'], 2000)) !== undefined, 5000, 'the agent answering');
    await waitFor(async () => {
      const q = await iot.queryDeviceDesiredProperty(new $Iot.QueryDeviceDesiredPropertyRequest({ ...dev, identifier: ['WorkMode', 'ReportInterval', 'TempAlarmThreshold'] }));
      return (q.body.data?.list?.desiredPropertyInfo ?? []).every((i) => i.value === undefined);
    }, 8000, 'the desired values to be cleared');
    expect(await sim.getDeviceProperties(dev, ['WorkMode', 'ReportInterval'])).toMatchObject({ code: 200, data: { WorkMode: 2, ReportInterval: 300 } });
    expect(again.log.text()).toContain('desired values applied');
    // The value outside the Thing Model (the simulator's own check is off here) was logged and cleared, never applied.
    expect(again.log.text()).toContain('desired value refused by the Thing Model');
    expect(((await sim.getDeviceProperties(dev, ['TempAlarmThreshold'])) as { data: Record<string, unknown> }).data.TempAlarmThreshold).not.toBe(9999);
  });

  it('sends a desired value set while the agent is online as a property set', async () => {
    const res = await iot.setDeviceDesiredProperty(new $Iot.SetDeviceDesiredPropertyRequest({ ...base, items: JSON.stringify({ AlarmEnable: 0 }), versions: '{}' }));
    const messageId = res.body.data?.messageId;
    expect(messageId).toBeDefined();
    expect((await sim.waitForDeviceReply(ID, (r) => r.kind === 'propertySetReply' && r.id === messageId, 5000)).code).toBe(200);
  });

  it('applies a shadow control message, reports the new state, and refuses a stale shadow version', async () => {
    const shadowOf = async () => JSON.parse((await iot.getDeviceShadow(new $Iot.GetDeviceShadowRequest(base))).body.shadowMessage ?? '{}') as { state: { desired?: object; reported?: Record<string, unknown> }; version: number };
    const before = (await shadowOf()).version;
    const upd = await iot.updateDeviceShadow(
      new $Iot.UpdateDeviceShadowRequest({ ...base, shadowMessage: JSON.stringify({ method: 'update', state: { desired: { ReportInterval: 90 } }, version: before + 1 }) }),
    );
    expect(upd.body.success).toBe(true);
    await waitFor(async () => (await shadowOf()).state.reported?.ReportInterval === 90, 8000, 'the reported state');
    const doc = await shadowOf();
    expect(doc.state.desired).toBeUndefined();
    expect(doc.version).toBe(before + 2);
    expect(await sim.getDeviceProperties(ID, ['ReportInterval'])).toMatchObject({ data: { ReportInterval: 90 } });
    const stale = await iot.updateDeviceShadow(new $Iot.UpdateDeviceShadowRequest({ ...base, shadowMessage: JSON.stringify({ method: 'update', state: { desired: { ReportInterval: 30 } }, version: before + 1 }) }));
    expect(stale.body.success).toBe(false);
    expect(stale.body.code).toBe('iot.shadow.403');
  });

  it('posts many timestamps of one device in one batch post, stored by the simulator, and refuses a bad entry', async () => {
    const t0 = Date.now() - 120_000;
    const reply = await main.agent.router.upstream.postBatch({
      properties: { Temperature: [{ value: 20.5, time: t0 }, { value: 21.5, time: t0 + 60_000 }] },
      events: { HighTemperature: [{ value: { Temperature: 41.5, Threshold: 40, SensorId: 'ch3' }, time: t0 + 30_000 }] },
    });
    expect(reply.code).toBe(200);
    expect(sim.reportedProperties(ID.productKey, ID.deviceName).Temperature).toMatchObject({ value: 21.5, time: t0 + 60_000 });
    expect(sim.deviceEvents(ID.productKey, ID.deviceName).some((e) => e.identifier === 'HighTemperature' && e.time === t0 + 30_000)).toBe(true);
    await expect(main.agent.router.upstream.postBatch({ properties: { Temperature: [{ value: 'hot', time: t0 }] } })).rejects.toThrow(/Temperature\[0\]/);
  });

  it('posts correct times from an agent whose clock is two days behind, once NTP answered', async () => {
    const dev = { productKey: ID.productKey, deviceName: 'gw-003' };
    const t = await agentFor('gw-003', () => Date.now() - TWO_DAYS_MS);
    await t.agent.start();
    await waitFor(() => t.agent.clock.status().syncedAt !== undefined, 8000, 'the NTP answer');
    expect(Math.abs(t.agent.clock.status().offsetMs - TWO_DAYS_MS)).toBeLessThan(60_000);
    expect(t.agent.clock.status().farOff).toBe(true);
    expect(t.agent.health.report().details).toMatchObject({ clock: { farOff: true } });
    expect(t.log.text()).toContain('system clock is far off');
    const posted = new Promise<unknown>((resolve) => sim.on('eventPost', (e) => e.deviceName === dev.deviceName && resolve(e.params)));
    await t.agent.router.upstream.postEvent('HighTemperature', { Temperature: 41.5, Threshold: 40, SensorId: 'ch3' });
    const params = (await posted) as { time: number };
    expect(Math.abs(params.time - Date.now())).toBeLessThan(60_000);
    // The next CONNECT signs the corrected time.
    const online: string[] = [];
    sim.on('deviceOnline', (e) => e.deviceName === dev.deviceName && online.push(String(e.clientId)));
    await sim.restartBroker(200);
    // Generous: the machine is shared, and every agent of the suite reconnects at once.
    await waitFor(() => online.length > 0, 40_000, 'the reconnect of the agent');
    const timestamp = Number(/timestamp=([0-9]+)/.exec(online[0]!)?.[1]);
    expect(Math.abs(timestamp - Date.now())).toBeLessThan(60_000);
  }, 90_000);
});
