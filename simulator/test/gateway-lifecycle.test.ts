/**
 * A device's life cycle driven by the official cloud SDK, on both brokers, with a raw MQTT.js gateway sending what
 * the official device SDKs send (docs/protocol/gateway-platform.md, "Cloud actions"): DeleteDevice of a logged-in
 * sub-device (`thing.delete` through the gateway, `topo/change` 1, then `/ext/error` 521 for its traffic), of an
 * unknown device, of a gateway with its own connection and sub-devices; the `topo/change` notices of
 * BatchAddThingTopo (0, and 1 to a gateway that lost the sub-device) and RemoveThingTopo (1); DisableThing on a
 * gateway (disconnected with its sub-devices, CONNECT refused, DISABLE) until EnableThing.
 */
import * as $Iot from '@alicloud/iot20180120';
import type { MqttClient } from 'mqtt';
import { createIotClient } from '../sdk-client';
import { gatewayRequester, gwSession, gwSys, signed, startGatewaySim, SUB_PK, topoAddItem } from './gateway-harness';
import { BROKER_MODES, BrokerMode, closed, connectDevice, messagesDuring, nextMessage, PK, sleep } from './harness';

let s: Awaited<ReturnType<typeof startGatewaySim>>;
let gw: MqttClient;
let gw3: MqttClient;
const request = gatewayRequester(() => gw);
const api = () => createIotClient(s.httpUrl);
const json = (m: { payload: Buffer }) => JSON.parse(m.payload.toString()) as Record<string, unknown>;
const sub = (dn: string) => ({ productKey: SUB_PK, deviceName: dn });
const status = async (pk: string, dn: string) => (await api().getDeviceStatus(new $Iot.GetDeviceStatusRequest({ productKey: pk, deviceName: dn }))).body;

/** The next `topo/change` the gateway hears, as `{status, subList}`. */
const topoChange = (c: MqttClient, dn: string) => nextMessage(c, (t) => t === `${gwSys(dn)}/thing/topo/change`).then((m) => json(m).params);

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await sleep(20);
  }
  throw new Error(`still not ${what} after 2 s`);
}

/** Connects gw-NNN as a gateway listening on its own topics and its error notices. */
async function gatewayClient(mode: BrokerMode, dn: string): Promise<MqttClient> {
  const c = await connectDevice(s.mqttUrl, { deviceName: dn }, mode === 'managed' ? { protocolVersion: 5 } : {});
  await c.subscribeAsync([`${gwSys(dn)}/#`, `${gwSession(dn)}/#`, `/ext/error/${PK}/${dn}`]);
  return c;
}

/** topo/add then login through `client` (the requests of gw-001 go through `request`; others here). */
async function bindAndLogin(client: MqttClient, gwDn: string, dns: string[]): Promise<void> {
  const ask = gatewayRequester(() => client);
  expect((await ask(`${gwSys(gwDn)}/thing/topo/add`, dns.map((dn) => signed(dn, 'hmacSha256', 'signmethod')))).code).toBe(200);
  expect((await ask(`${gwSession(gwDn)}/combine/batch_login`, { signMethod: 'hmacSha256', deviceList: dns.map((dn) => signed(dn, 'hmacSha256', 'signMethod')) })).code).toBe(200);
}

describe.each(BROKER_MODES)('device life cycle through the cloud SDK (%s broker)', (mode: BrokerMode) => {
  beforeAll(async () => {
    s = await startGatewaySim(mode, 4, 3);
    gw = await gatewayClient(mode, 'gw-001');
    await bindAndLogin(gw, 'gw-001', ['sensor-01', 'sensor-02']);
  });
  afterAll(async () => {
    await gw3?.endAsync(true);
    await gw?.endAsync(true);
    await s?.sim.stop();
  });

  it('DeleteDevice of a logged-in sub-device: thing.delete through the gateway (its reply taken quietly), topo/change 1, gone from topology and registry', async () => {
    const topic = `/sys/${SUB_PK}/sensor-01/thing/delete`;
    await gw.subscribeAsync(topic);
    const notice = nextMessage(gw, (t) => t === topic);
    const change = nextMessage(gw, (t) => t === `${gwSys()}/thing/topo/change`);
    const r = await api().deleteDevice(new $Iot.DeleteDeviceRequest(sub('sensor-01')));
    expect(r.body.success).toBe(true);
    const n = json(await notice);
    expect(n).toMatchObject({ method: 'thing.delete', params: {} });
    expect(json(await change)).toMatchObject({ method: 'thing.topo.change', params: { status: 1, subList: [sub('sensor-01')] } });
    // The gateway answers the notice on _reply (§10.8): no error notice for that.
    const heard = messagesDuring(gw, 300);
    await gw.publishAsync(`${topic}_reply`, JSON.stringify({ id: n.id, code: 200, data: {} })).catch(() => undefined);
    expect((await heard).filter((t) => t.startsWith('/ext/error/'))).toEqual([]);
    expect(await status(SUB_PK, 'sensor-01')).toMatchObject({ success: false, code: 'iot.device.NotExistedDevice' });
    const topo = await api().getThingTopo(new $Iot.GetThingTopoRequest({ productKey: PK, deviceName: 'gw-001', pageNo: 1, pageSize: 50 }));
    expect(topo.body.data!.list!.deviceInfo!.map((d) => d.deviceName)).toEqual(['sensor-02']);
    expect((await request(`${gwSession()}/combine/login`, signed('sensor-01', 'hmacSha1', 'signMethod'))).code).toBe(6100);
  });

  it('the gateway\'s traffic for the deleted sub-device answers /ext/error 521 (embedded) or is refused (managed: PUBACK 0x87)', async () => {
    const post = `/sys/${SUB_PK}/sensor-01/thing/event/property/post`;
    if (mode === 'managed') {
      await expect(gw.publishAsync(post, '{"id":"5","params":{}}', { qos: 1 })).rejects.toThrow();
      return;
    }
    const err = nextMessage(gw, (t) => t === `/ext/error/${PK}/gw-001`);
    await gw.publishAsync(post, JSON.stringify({ id: '5', version: '1.0', params: { Temperature: 1 } }));
    expect(json(await err)).toMatchObject({ code: 521, data: sub('sensor-01') });
    // The other sub-device is untouched.
    expect((await status(SUB_PK, 'sensor-02')).data?.status).toBe('ONLINE');
  });

  it('DeleteDevice of an unknown device answers iot.device.NotExistedDevice, by name and by IotId', async () => {
    const byName = await api().deleteDevice(new $Iot.DeleteDeviceRequest(sub('sensor-01')));
    expect(byName.body).toMatchObject({ success: false, code: 'iot.device.NotExistedDevice' });
    const byId = await api().deleteDevice(new $Iot.DeleteDeviceRequest({ iotId: 'no-such-iot-id' }));
    expect(byId.body).toMatchObject({ success: false, code: 'iot.device.NotExistedDevice' });
  });

  it('DeleteDevice of a connected gateway (by IotId): its connection is closed, its next CONNECT refused, its sub-devices offline and unbound', async () => {
    const gw2 = await gatewayClient(mode, 'gw-002');
    await bindAndLogin(gw2, 'gw-002', ['sensor-03']);
    expect((await status(SUB_PK, 'sensor-03')).data?.status).toBe('ONLINE');
    const gw2Id = { productKey: PK, deviceName: 'gw-002' };
    expect((await api().saveDeviceProp(new $Iot.SaveDevicePropRequest({ ...gw2Id, props: JSON.stringify({ site: 'hall-3' }) }))).body.success).toBe(true);
    const iotId = s.sim.device(PK, 'gw-002')!.iotId;
    const gone = closed(gw2);
    expect((await api().deleteDevice(new $Iot.DeleteDeviceRequest({ iotId }))).body.success).toBe(true);
    await gone;
    await waitFor(async () => (await status(SUB_PK, 'sensor-03')).data?.status === 'OFFLINE', 'OFFLINE');
    const g = await api().getGatewayBySubDevice(new $Iot.GetGatewayBySubDeviceRequest(sub('sensor-03')));
    expect(g.body).toMatchObject({ success: false, code: 'iot.gateway.NoGateway' });
    await expect(connectDevice(s.mqttUrl, { deviceName: 'gw-002' }, mode === 'managed' ? { protocolVersion: 5 } : {})).rejects.toThrow();
    expect(await status(PK, 'gw-002')).toMatchObject({ success: false, code: 'iot.device.NotExistedDevice' });
    // The name may be registered again: a new device, with a new secret and nothing of the old one's.
    const again = await api().registerDevice(new $Iot.RegisterDeviceRequest(gw2Id));
    const secret = again.body.data!.deviceSecret!;
    expect(secret).not.toBe(s.sim.device(PK, 'gw-001')!.deviceSecret);
    expect(await status(PK, 'gw-002')).toMatchObject({ success: true, data: { status: 'UNACTIVE' } });
    expect(JSON.parse((await api().queryDeviceProp(new $Iot.QueryDevicePropRequest(gw2Id))).body.props ?? '{}')).toEqual({});
    const reborn = await connectDevice(s.mqttUrl, { deviceName: 'gw-002', deviceSecret: secret }, mode === 'managed' ? { protocolVersion: 5 } : {});
    await waitFor(async () => (await status(PK, 'gw-002')).data?.status === 'ONLINE', 'ONLINE');
    await reborn.endAsync();
  });

  it('BatchAddThingTopo tells the gateway topo/change 0; moving the sub-device to another gateway tells the old one 1', async () => {
    gw3 = await gatewayClient(mode, 'gw-003');
    const added = topoChange(gw, 'gw-001');
    const add = (gwDn: string) => api().batchAddThingTopo(new $Iot.BatchAddThingTopoRequest({ gwProductKey: PK, gwDeviceName: gwDn, topoAddItem: [topoAddItem('sensor-04')] }));
    expect((await add('gw-001')).body.success).toBe(true);
    expect(await added).toEqual({ status: 0, subList: [sub('sensor-04')] });
    const moved = topoChange(gw3, 'gw-003');
    const lost = topoChange(gw, 'gw-001');
    expect((await add('gw-003')).body.success).toBe(true);
    expect(await moved).toEqual({ status: 0, subList: [sub('sensor-04')] });
    expect(await lost).toEqual({ status: 1, subList: [sub('sensor-04')] });
    // A failed (all-or-nothing) call changes nothing and tells nothing.
    const quiet = messagesDuring(gw3, 200);
    const bad = await api().batchAddThingTopo(new $Iot.BatchAddThingTopoRequest({ gwProductKey: PK, gwDeviceName: 'gw-003', topoAddItem: [topoAddItem('sensor-04', '00'.repeat(32))] }));
    expect(bad.body).toMatchObject({ success: false, code: 'iot.gateway.TopoAddFailed' });
    expect((await quiet).filter((t) => t.endsWith('/thing/topo/change'))).toEqual([]);
  });

  it('RemoveThingTopo tells the gateway topo/change 1: for one sub-device, and for all of a gateway\'s (whose sessions end)', async () => {
    const one = topoChange(gw3, 'gw-003');
    expect((await api().removeThingTopo(new $Iot.RemoveThingTopoRequest(sub('sensor-04')))).body.data).toBe(true);
    expect(await one).toEqual({ status: 1, subList: [sub('sensor-04')] });
    expect((await status(SUB_PK, 'sensor-02')).data?.status).toBe('ONLINE');
    const all = topoChange(gw, 'gw-001');
    expect((await api().removeThingTopo(new $Iot.RemoveThingTopoRequest({ productKey: PK, deviceName: 'gw-001' }))).body.data).toBe(true);
    expect(await all).toEqual({ status: 1, subList: [sub('sensor-02')] });
    expect((await status(SUB_PK, 'sensor-02')).data?.status).toBe('OFFLINE');
  });

  it('DisableThing on a connected gateway: disconnected, its sub-devices offline, DISABLE, its CONNECT refused until EnableThing', async () => {
    await bindAndLogin(gw3, 'gw-003', ['sensor-04']);
    expect((await status(SUB_PK, 'sensor-04')).data?.status).toBe('ONLINE');
    const gone = closed(gw3);
    expect((await api().disableThing(new $Iot.DisableThingRequest({ productKey: PK, deviceName: 'gw-003' }))).body.success).toBe(true);
    await gone;
    await waitFor(async () => (await status(SUB_PK, 'sensor-04')).data?.status === 'OFFLINE', 'OFFLINE');
    expect((await status(PK, 'gw-003')).data?.status).toBe('DISABLE');
    const states = await api().batchGetDeviceState(new $Iot.BatchGetDeviceStateRequest({ productKey: PK, deviceName: ['gw-003'] }));
    expect(states.body.deviceStatusList!.deviceStatus![0]!.status).toBe('DISABLE');
    const connect = () => connectDevice(s.mqttUrl, { deviceName: 'gw-003' }, mode === 'managed' ? { protocolVersion: 5 } : {});
    // CONNACK 5 "not authorized" (MQTT 3.1.1, embedded); 0x87 (MQTT 5, managed).
    await expect(connect()).rejects.toMatchObject({ code: mode === 'managed' ? 135 : 5 });
    // Its topology is kept: enabled again, it connects and logs its sub-device in.
    expect((await api().enableThing(new $Iot.EnableThingRequest({ productKey: PK, deviceName: 'gw-003' }))).body.success).toBe(true);
    expect((await status(PK, 'gw-003')).data?.status).toBe('OFFLINE');
    gw3 = await gatewayClient(mode, 'gw-003');
    const login = await gatewayRequester(() => gw3)(`${gwSession('gw-003')}/combine/login`, signed('sensor-04', 'hmacSha256', 'signMethod'));
    expect(login.code).toBe(200);
    expect((await status(SUB_PK, 'sensor-04')).data?.status).toBe('ONLINE');
  });

  it('DisableThing on a sub-device connected on its own closes that connection too', async () => {
    const direct = await connectDevice(s.mqttUrl, { productKey: SUB_PK, deviceName: 'sensor-02', deviceSecret: s.sim.device(SUB_PK, 'sensor-02')!.deviceSecret }, mode === 'managed' ? { protocolVersion: 5 } : {});
    expect((await status(SUB_PK, 'sensor-02')).data?.status).toBe('ONLINE');
    const gone = closed(direct);
    expect((await api().disableThing(new $Iot.DisableThingRequest(sub('sensor-02')))).body.success).toBe(true);
    await gone;
    expect((await status(SUB_PK, 'sensor-02')).data?.status).toBe('DISABLE');
    await direct.endAsync(true);
  });
});
