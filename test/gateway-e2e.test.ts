/**
 * A gateway agent and its sub-devices end to end, on both simulator brokers, driven by the official cloud SDK
 * (docs/protocol/gateway.md, gateway-traffic.md): topology added and reported by GetThingTopo, batch login in more
 * than one chunk, SetDeviceProperty (accepted, read-only, out of range per the sub-device's own TSL), async and sync
 * services and RRpc to a sub-device, posts and pack posts, de-duplication per sub-device, run-time add and remove, an
 * unknown sub-device's traffic refused, disable and enable, DeleteDevice, a broker restart with every sub-device back
 * online and what was posted meanwhile delivered after their logins, and a restart that neither re-adds nor
 * re-registers. A lost session and kill -9 are in test/gateway-kill9.test.ts.
 */
import { join } from 'node:path';
import * as $Iot from '@alicloud/iot20180120';
import { createIotClient, longCallRuntime } from '../simulator/sdk-client';
import type { CloudSimulator } from '../simulator/cloud-simulator';
import { definePlugin, type CallContext, type SubDeviceState } from '../handlers/api';
import { waitFor } from './helpers/brokers';
import { DEVICE } from './agent-support';
import { ID, makeAgent, startGatewaySimulator, type TestAgent } from './agent-e2e-support';

const SUB_PK = 'a1SubDemo01';
const SUB_SECRET = '9c1f4e2a7b3d4c5e8f60718293a4b5c6';
const SENSOR_TSL = join(__dirname, '..', 'simulator', 'tsl', 'example-sensor.json');
const GW_TSL = join(__dirname, '..', 'simulator', 'tsl', 'example-gateway.json');
const N = 45;
const names = Array.from({ length: N }, (_, i) => `sensor-${String(i + 1).padStart(2, '0')}`);
const sub = (deviceName: string) => ({ productKey: SUB_PK, deviceName });

interface DriverLog {
  sets: { device: string; values: Record<string, unknown> }[];
  custom: { device: string; suffix: string; payload: string }[];
  resets: { device: string; input: unknown }[];
  states: { device: string; state: SubDeviceState; previous: SubDeviceState | undefined }[];
}

const key = (call: CallContext) => `${call.device?.productKey}/${call.device?.deviceName}`;

function driver(log: DriverLog) {
  return {
    module: 'e2e-meter-driver',
    plugin: definePlugin({
      name: 'meters',
      setup: () => ({
        subDevices: {
          products: [SUB_PK],
          properties: {
            ids: ['SetPoint', 'Relay', 'Mode'],
            apply: (values: Record<string, unknown>, call: CallContext) => {
              log.sets.push({ device: key(call), values });
            },
          },
          services: {
            Reset: (input: unknown, call: CallContext) => {
              log.resets.push({ device: key(call), input });
            },
            ReadMeter: (_input: unknown, call: CallContext) => ({ Energy: call.device?.deviceName === 'sensor-02' ? 2.5 : 1.25 }),
          },
          rrpc: { raw: (req: { payload: Buffer }, call: CallContext) => `meter ${call.device?.deviceName}: ${req.payload.toString()}` },
          customTopics: {
            'cmd/+': (msg: { suffix: string; payload: Buffer }, call: CallContext) => {
              log.custom.push({ device: key(call), suffix: msg.suffix, payload: msg.payload.toString() });
            },
          },
          onStateChange: (d: { productKey: string; deviceName: string; state: SubDeviceState }, previous: SubDeviceState | undefined) => {
            log.states.push({ device: `${d.productKey}/${d.deviceName}`, state: d.state, previous });
          },
        },
      }),
    }),
  };
}

describe.each(['embedded', 'managed'] as const)('gateway sub-devices end to end (%s broker)', (mode) => {
  let sim: CloudSimulator;
  let iot: ReturnType<typeof createIotClient>;
  let mqttUrl: string;
  let t: TestAgent;
  const log: DriverLog = { sets: [], custom: [], resets: [], states: [] };
  const protocolVersion: 4 | 5 = mode === 'managed' ? 5 : 4;

  const config = (dataDirUrl: string) => ({
    broker: { url: dataDirUrl, protocolVersion, reconnect: { initialMs: 100, maxMs: 500, stableMs: 1000 }, connectTimeoutMs: 3000 },
    postAfterSet: { enabled: false },
    health: { enabled: true, port: 0 },
    gateway: { loginBatchSize: 20, retry: { initialMs: 200, maxMs: 1000 } },
    subDevices: names.map((deviceName, i) => ({ ...sub(deviceName), secret: SUB_SECRET, ...(i === 0 ? { thingModel: { path: SENSOR_TSL } } : {}) })),
  });

  beforeAll(async () => {
    let httpUrl: string;
    ({ sim, httpUrl, mqttUrl } = await startGatewaySimulator(mode, [...names, 'sensor-99', 'sensor-98']));
    iot = createIotClient(httpUrl);
    t = await makeAgent(mqttUrl, config(mqttUrl), { plugins: [driver(log)] });
    await t.agent.start();
  });

  afterAll(async () => {
    await t?.cleanup();
    await sim?.stop();
    expect(t.log.text()).not.toContain(SUB_SECRET);
  });

  const online = () => t.agent.gateway.counts().online;

  it('adds the topology, logs every sub-device in over more than one batch, and the cloud sees them', async () => {
    await waitFor(() => online() === N, 20_000, `all ${N} sub-devices online`);
    const topo = await iot.getThingTopo(new $Iot.GetThingTopoRequest({ ...ID, pageNo: 1, pageSize: 50 }));
    expect(topo.body.success).toBe(true);
    expect(topo.body.data?.list?.deviceInfo?.map((d) => d.deviceName).sort()).toEqual(names);
    const state = await iot.batchGetDeviceState(new $Iot.BatchGetDeviceStateRequest({ productKey: SUB_PK, deviceName: names.slice(0, 5) }));
    expect(state.body.deviceStatusList?.deviceStatus?.map((d) => d.status)).toEqual(Array(5).fill('ONLINE'));
    const logins = t.log.lines().filter((l) => l.msg === 'sub-device state' && l.state === 'loggingIn');
    expect(logins.length).toBe(N);
    expect(log.states.filter((s) => s.state === 'online').length).toBeGreaterThanOrEqual(N);
    // Observability: by state, one series per state, and the STATUS= line.
    expect(t.agent.statusLine()).toContain(`${N} of ${N} sub-devices online`);
    const health = (await (await fetch(`${t.agent.healthAddress!.url}/healthz`)).json()) as { subDevices: { configured: number; byState: Record<string, number> } };
    expect(health.subDevices).toEqual({ configured: N, byState: { pending: 0, loggingIn: 0, online: N, offline: 0, disabled: 0, failed: 0 } });
    const metrics = await (await fetch(`${t.agent.healthAddress!.url}/metrics`)).text();
    expect(metrics).toContain(`alink_agent_sub_devices{state="online"} ${N}`);
    expect(metrics.split('\n').filter((l) => l.startsWith('alink_agent_sub_devices{')).length).toBe(6);
    // A gateway nobody set a shadow for is told so (407) after its connect: a fact, not a warning.
    expect(t.log.lines().some((l) => l.msg === 'no shadow document yet')).toBe(true);
    expect(t.log.lines().filter((l) => l.msg === 'shadow update refused')).toEqual([]);
  });

  const setProperty = async (deviceName: string, items: Record<string, unknown>) => {
    const res = await iot.setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...sub(deviceName), items: JSON.stringify(items) }));
    expect(res.body.success).toBe(true);
    return sim.waitForDeviceReply(sub(deviceName), (r) => r.kind === 'propertySetReply' && r.id === res.body.data?.messageId, 5000);
  };

  it('SetDeviceProperty reaches the right sub-device, validated against its own Thing Model', async () => {
    expect((await setProperty('sensor-07', { SetPoint: 21.5, Mode: 1 })).code).toBe(200);
    expect(log.sets).toContainEqual({ device: `${SUB_PK}/sensor-07`, values: { SetPoint: 21.5, Mode: 1 } });
    const ro = await setProperty('sensor-07', { Temperature: 20 });
    expect(ro.code).toBe(460);
    expect(ro.message).toMatch(/Temperature/);
    const range = await setProperty('sensor-07', { SetPoint: 50 });
    expect(range.code).toBe(460);
    expect(range.message).toMatch(/SetPoint/);
    // The gateway's own properties are not the sub-device's.
    expect((await setProperty('sensor-07', { ReportInterval: 60 })).code).toBe(460);
  });

  it('async and sync services and RRpc to a sub-device', async () => {
    const res = await iot.invokeThingService(new $Iot.InvokeThingServiceRequest({ ...sub('sensor-03'), identifier: 'Reset', args: JSON.stringify({ DelaySeconds: 2 }) }));
    expect(res.body.success).toBe(true);
    expect((await sim.waitForDeviceReply(sub('sensor-03'), (r) => r.kind === 'serviceReply' && r.id === res.body.data?.messageId, 5000)).code).toBe(200);
    expect(log.resets).toContainEqual({ device: `${SUB_PK}/sensor-03`, input: { DelaySeconds: 2 } });
    const sync = await iot.invokeThingServiceWithOptions(new $Iot.InvokeThingServiceRequest({ ...sub('sensor-02'), identifier: 'ReadMeter', args: '{}' }), longCallRuntime());
    expect(sync.body.success).toBe(true);
    expect(JSON.parse(sync.body.data?.result ?? '{}')).toEqual({ Energy: 2.5 });
    const rrpc = await iot.rRpcWithOptions(new $Iot.RRpcRequest({ ...sub('sensor-04'), requestBase64Byte: Buffer.from('ping').toString('base64'), timeout: 3000 }), longCallRuntime());
    expect(rrpc.body.rrpcCode).toBe('SUCCESS');
    expect(Buffer.from(rrpc.body.payloadBase64Byte ?? '', 'base64').toString()).toBe('meter sensor-04: ping');
  });

  it('Pub to a sub-device\'s custom topic reaches its driver with the device named', async () => {
    await waitFor(() => online() === N, 20_000, `all ${N} sub-devices online`);
    const topic = `/${SUB_PK}/sensor-06/user/cmd/relay`;
    const pub = await iot.pub(new $Iot.PubRequest({ productKey: SUB_PK, topicFullName: topic, messageContent: Buffer.from('on').toString('base64'), qos: 1 }));
    expect(pub.body.success).toBe(true);
    await waitFor(() => log.custom.length > 0, 5000, 'the custom-topic message at the driver');
    expect(log.custom).toEqual([{ device: `${SUB_PK}/sensor-06`, suffix: 'cmd/relay', payload: 'on' }]);
  });

  it('posts for a sub-device through ctx.gateway reach the platform on its own topics', async () => {
    const posted = new Promise<unknown>((resolve) => sim.on('propertyPost', (p: { deviceName: string; params: unknown }) => p.deviceName === 'sensor-05' && resolve(p.params)));
    const reply = await t.agent.gateway.api.upstream(sub('sensor-05')).postProperties({ Temperature: 19.5, Energy: 3.25 });
    expect(reply.code).toBe(200);
    expect(await posted).toMatchObject({ Temperature: 19.5 });
    const status = await iot.queryDevicePropertyStatus(new $Iot.QueryDevicePropertyStatusRequest({ ...sub('sensor-05') }));
    expect(status.body.data?.list?.propertyStatusInfo?.find((p) => p.identifier === 'Temperature')?.value).toBe('19.5');
  });

  it('a pack post carries several sub-devices in one message; the platform stores each one\'s values', async () => {
    const api = t.agent.gateway.api;
    await waitFor(() => online() === N, 20_000, `all ${N} sub-devices online`);
    const reply = await api.postPack([
      { device: sub('sensor-11'), properties: { Temperature: 11.5 } },
      { device: sub('sensor-12'), properties: { Temperature: 12.5, Energy: 4.25 } },
    ]);
    expect(reply.code).toBe(200);
    for (const [dn, v] of [['sensor-11', '11.5'], ['sensor-12', '12.5']] as const) {
      const st = await iot.queryDevicePropertyStatus(new $Iot.QueryDevicePropertyStatusRequest({ ...sub(dn) }));
      expect(st.body.data?.list?.propertyStatusInfo?.find((p) => p.identifier === 'Temperature')?.value).toBe(v);
    }
    // Refused before anything is sent: the platform's limits, and each value against its device's Thing Model.
    const many = names.slice(0, 21).map((dn) => ({ device: sub(dn), properties: { Temperature: 1 } }));
    await expect(api.postPack(many).stored).rejects.toThrow(/entries: expected 1\.\.20 sub-devices, received 21/);
    await expect(api.postPack([{ device: sub('sensor-11'), properties: { Temperature: 'hot' } }]).stored).rejects.toThrow(/entries\[0\]\.properties: .*Temperature/);
    await expect(api.postPack([{ device: sub('sensor-00'), properties: { Temperature: 1 } }]).stored).rejects.toThrow(/entries\[0\]\.device: expected a sub-device the agent knows/);
  });

  it('de-duplicates per sub-device: a redelivered set is answered again, not applied twice; the same id for another device is its own', async () => {
    const set = (dn: string) => ({ topic: `/sys/${SUB_PK}/${dn}/thing/service/property/set`, payload: Buffer.from('{"id":"777001","version":"1.0","params":{"Mode":2}}'), qos: 1 as const });
    const applied = () => log.sets.filter((x) => x.values.Mode === 2 && (x.device.endsWith('sensor-21') || x.device.endsWith('sensor-22'))).map((x) => x.device);
    await waitFor(() => online() === N, 20_000, `all ${N} sub-devices online`);
    await t.agent.gateway.handle(set('sensor-21'));
    await t.agent.gateway.handle(set('sensor-21'));
    await t.agent.gateway.handle(set('sensor-22'));
    expect(applied()).toEqual([`${SUB_PK}/sensor-21`, `${SUB_PK}/sensor-22`]);
    expect(t.log.lines().filter((l) => l.msg === 'redelivered request answered from the reply cache').length).toBeGreaterThanOrEqual(1);
  });

  it('a sub-device added at run time comes online; removed, its topology goes and its traffic is refused with 6100', async () => {
    const api = t.agent.gateway.api;
    const added = await api.add({ ...sub('sensor-99'), deviceSecret: SUB_SECRET });
    expect(added).toMatchObject({ state: 'pending', owner: 'meters' });
    await waitFor(() => api.status(sub('sensor-99'))?.state === 'online', 5000, 'sensor-99 online');
    expect((await setProperty('sensor-99', { Relay: 0 })).code).toBe(200);
    await api.remove(sub('sensor-99'));
    expect(api.status(sub('sensor-99'))).toBeUndefined();
    const topo = await iot.getThingTopo(new $Iot.GetThingTopoRequest({ ...ID, pageNo: 1, pageSize: 50 }));
    expect(topo.body.data?.list?.deviceInfo?.map((d) => d.deviceName)).not.toContain('sensor-99');
    // A message for it still in flight when it was removed: refused on its reply topic, not handed to the driver.
    const before = log.sets.length;
    await t.agent.gateway.handle({ topic: `/sys/${SUB_PK}/sensor-99/thing/service/property/set`, payload: Buffer.from('{"id":"901","version":"1.0","params":{"Relay":1}}'), qos: 1 });
    expect(log.sets.length).toBe(before);
    expect(t.log.lines().find((l) => l.msg === 'sub-device message refused' && l.code === 6100)).toBeDefined();
    await expect(api.add({ productKey: 'a1Unknown', deviceName: 'x-0001' })).rejects.toMatchObject({ code: 'GATEWAY_UNKNOWN_PRODUCT' });
  });

  it('a sub-device disabled in the cloud is logged out and refused; enabled, it comes back', async () => {
    await waitFor(() => online() === N, 20_000, `all ${N} sub-devices online`);
    await iot.disableThing(new $Iot.DisableThingRequest({ ...sub('sensor-10') }));
    await waitFor(() => t.agent.gateway.api.status(sub('sensor-10'))?.state === 'disabled', 5000, 'sensor-10 disabled');
    expect(log.states).toContainEqual({ device: `${SUB_PK}/sensor-10`, state: 'disabled', previous: 'online' });
    await iot.enableThing(new $Iot.EnableThingRequest({ ...sub('sensor-10') }));
    await waitFor(() => t.agent.gateway.api.status(sub('sensor-10'))?.state === 'online', 5000, 'sensor-10 online again');
    expect((await setProperty('sensor-10', { Relay: 1 })).code).toBe(200);
  });

  it('DeleteDevice of a sub-device: the agent forgets it and tells its driver', async () => {
    const api = t.agent.gateway.api;
    await api.add({ ...sub('sensor-98'), deviceSecret: SUB_SECRET });
    await waitFor(() => api.status(sub('sensor-98'))?.state === 'online', 5000, 'sensor-98 online');
    const del = await iot.deleteDevice(new $Iot.DeleteDeviceRequest({ ...sub('sensor-98') }));
    expect(del.body.success).toBe(true);
    await waitFor(() => api.status(sub('sensor-98')) === undefined, 5000, 'sensor-98 forgotten');
    expect(log.states).toContainEqual({ device: `${SUB_PK}/sensor-98`, state: 'offline', previous: 'online' });
    expect(online()).toBe(N);
  });

  it('a broker restart: every sub-device is logged in again, and what was posted for them meanwhile arrives after their login', async () => {
    const stored: string[] = [];
    const logFrom = t.log.lines().length;
    sim.on('propertyPost', (p: { deviceName: string; params: unknown; code: number }) => {
      if (p.code === 200 && (p.params as { Temperature?: unknown }).Temperature === 33.5) stored.push(p.deviceName);
    });
    const restarted = sim.restartBroker(1500);
    await waitFor(() => t.agent.state === 'reconnecting', 5000, 'the outage');
    // Accepted into the outbox while the gateway is away: sent only once each sub-device is logged in again.
    const posts = ['sensor-30', 'sensor-31', 'sensor-32'].map((dn) => t.agent.gateway.api.upstream(sub(dn)).postProperties({ Temperature: 33.5 }, { timeoutMs: 20_000 }));
    for (const p of posts) expect((await p.stored).durable).toBe(true);
    await restarted;
    await waitFor(() => t.agent.state === 'connected' && online() === N, 20_000, 'everything back online');
    for (const p of posts) expect((await p).code).toBe(200);
    expect(stored.sort()).toEqual(['sensor-30', 'sensor-31', 'sensor-32']);
    expect(t.log.lines().slice(logFrom).filter((l) => String(l.msg).startsWith('outbox dropped a message') || l.msg === 'platform error notice about a sub-device')).toEqual([]);
    expect((await setProperty('sensor-45', { Mode: 2 })).code).toBe(200);
  });

  it('a restart neither adds topology nor registers again what the agent already has on record', async () => {
    await t.agent.stop();
    const { Agent } = await import('../agent/agent');
    const again = await Agent.create(
      { device: { ...ID, secret: DEVICE.secret }, thingModel: { path: GW_TSL }, dataDir: t.dataDir, rrpc: { budgetMs: 1500 }, ...config(mqttUrl) },
      { logger: t.log.logger, plugins: [driver(log)] },
    );
    const before = t.log.lines().length;
    try {
      await again.start();
      await waitFor(() => again.gateway.counts().online === N, 20_000, 'all online after the restart');
      const after = t.log.lines().slice(before).map((l) => l.msg);
      expect(after).not.toContain('sub-device topology added');
      expect(after).not.toContain('sub-device round failed; retrying');
    } finally {
      await again.stop();
    }
  });
});
