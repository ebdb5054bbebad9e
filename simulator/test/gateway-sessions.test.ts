/**
 * The platform's gateway half on the embedded broker, driven by a test gateway written here (raw MQTT.js,
 * the payload shapes the official SDKs send) and the official cloud SDK: topology add/get/delete with sign checks in
 * every method and key spelling, sub-device registration, login (single and batch; bad sign; no topology), presence
 * per sub-device, sub-device traffic both ways, and the gateway's drop taking its sub-devices offline.
 */
import { createHmac } from 'node:crypto';
import * as $Iot from '@alicloud/iot20180120';
import type { MqttClient } from 'mqtt';
import { createIotClient, longCallRuntime } from '../sdk-client';
import { gatewayRequester, gwSession, gwSys, signed, startGatewaySim, SUB_PK, SUB_PRODUCT_SECRET, SUB_SECRET, topoAddItem } from './gateway-harness';
import { BROKER_MODES, BrokerMode, connectDevice, nextMessage, PK, sleep } from './harness';

const GW = gwSys();
const SESSION = gwSession();

let s: Awaited<ReturnType<typeof startGatewaySim>>;
let gw: MqttClient;
const request = gatewayRequester(() => gw);

/** The same signed item with its hex in upper case (the docs' examples), signed once so the timestamp matches. */
function upper<T extends { sign: string }>(item: T): T {
  return { ...item, sign: item.sign.toUpperCase() };
}

const api = () => createIotClient(s.httpUrl);
const status = async (dn: string) => (await api().getDeviceStatus(new $Iot.GetDeviceStatusRequest({ productKey: SUB_PK, deviceName: dn }))).body.data?.status;

describe.each(BROKER_MODES)('gateway sessions (%s broker)', (mode: BrokerMode) => {
  beforeAll(async () => {
    s = await startGatewaySim(mode);
    gw = await connectDevice(s.mqttUrl, { deviceName: 'gw-001' }, mode === 'managed' ? { protocolVersion: 5 } : {});
    await gw.subscribeAsync([`${GW}/#`, `${SESSION}/#`, `/ext/error/${PK}/gw-001`]);
  });
  afterAll(async () => {
    await gw?.endAsync(true);
    await s?.sim.stop();
  });

  it('refuses login without topology (6401) and a topo add with a bad sign (401)', async () => {
    const login = await request(`${SESSION}/combine/login`, signed('sensor-01', 'hmacSha1', 'signMethod', { cleanSession: 'true' }));
    expect(login.code).toBe(6401);
    const bad = await request(`${GW}/thing/topo/add`, [{ ...signed('sensor-01', 'hmacSha1', 'signmethod'), sign: '00'.repeat(20) }], 'thing.topo.add');
    expect(bad.code).toBe(401);
    expect(bad.data).toEqual([]);
  });

  it('adds topology with every sign method and key spelling, reports it on topo/get', async () => {
    const add = await request(`${GW}/thing/topo/add`, [
      signed('sensor-01', 'hmacSha1', 'signmethod'),
      upper(signed('sensor-02', 'hmacSha256', 'signMethod')),
      signed('sensor-03', 'hmacMd5', 'signmethod'),
      signed('sensor-99', 'hmacSha1', 'signmethod'),
    ]);
    expect(add.code).toBe(200);
    expect(add.data).toEqual(['sensor-01', 'sensor-02', 'sensor-03'].map((deviceName) => ({ productKey: SUB_PK, deviceName })));
    // LinkSDK 4.x sends params as the string "{}" and no method.
    const get = await request(`${GW}/thing/topo/get`, '{}');
    expect(get.code).toBe(200);
    expect((get.data as unknown[]).length).toBe(3);
    const del = await request(`${GW}/thing/topo/delete`, [{ productKey: SUB_PK, deviceName: 'sensor-03' }]);
    expect(del).toMatchObject({ code: 200, data: [{ productKey: SUB_PK, deviceName: 'sensor-03' }] });
    expect(((await request(`${GW}/thing/topo/get`, {})).data as unknown[]).length).toBe(2);
  });

  it('hands out sub-device secrets with thing.sub.register', async () => {
    const r = await request(`${GW}/thing/sub/register`, [{ productKey: SUB_PK, deviceName: 'sensor-01' }]);
    expect(r.code).toBe(200);
    expect(r.data).toEqual([expect.objectContaining({ productKey: SUB_PK, deviceName: 'sensor-01', deviceSecret: SUB_SECRET })]);
  });

  it('registers sub-devices by product secret (thing.proxy.provisioning.product_register): known and new names, item by item', async () => {
    // The documented vector (random of 20 hex, HMAC-SHA256, C4) for a known device; a new name signed as the Android
    // LinkKit demo signs (hmacsha1, 10 characters of random).
    const vector = { productKey: SUB_PK, deviceName: 'sensor-01', random: '0123456789abcdef0123', signMethod: 'hmacSha256', sign: '862603f82115064e9c0d334721c98aa3f4b203a6dc83bd93d1be22ff8278cfd3' };
    const random = 'k3J9xQ2mZp';
    const fresh = { productKey: SUB_PK, deviceName: 'meter-0042', random, signMethod: 'hmacsha1', sign: createHmac('sha1', SUB_PRODUCT_SECRET).update(`deviceNamemeter-0042productKey${SUB_PK}random${random}`).digest('hex') };
    const badSign = { ...fresh, deviceName: 'meter-0043' };
    const notDynamic = { ...fresh, productKey: PK };
    const r = await request(`${GW}/thing/proxy/provisioning/product_register`, { proxieds: [vector, fresh, badSign, notDynamic] });
    expect(r.code).toBe(200);
    const data = r.data as { successes: { productKey: string; deviceName: string; deviceSecret: string; iotId: string }[]; failures: { deviceName: string; code: number }[] };
    expect(data.successes.map((d) => d.deviceName)).toEqual(['sensor-01', 'meter-0042']);
    expect(data.successes[0]!.deviceSecret).toBe(SUB_SECRET);
    const secret = data.successes[1]!.deviceSecret;
    expect(secret).toMatch(/^[0-9a-f]{32}$/);
    expect(data.failures).toEqual([expect.objectContaining({ deviceName: 'meter-0043', code: 401 }), expect.objectContaining({ productKey: PK, code: 6288 })]);
    // The new device exists with that secret: the cloud knows it, and its topo/add signed with it is accepted.
    expect((await api().getDeviceStatus(new $Iot.GetDeviceStatusRequest({ productKey: SUB_PK, deviceName: 'meter-0042' }))).body.data?.status).toBe('UNACTIVE');
    const add = await request(`${GW}/thing/topo/add`, [signed('meter-0042', 'hmacSha256', 'signmethod', {}, secret)]);
    expect(add).toMatchObject({ code: 200, data: [{ productKey: SUB_PK, deviceName: 'meter-0042' }] });
    expect((await request(`${GW}/thing/topo/delete`, [{ productKey: SUB_PK, deviceName: 'meter-0042' }])).code).toBe(200);
    expect((await request(`${GW}/thing/proxy/provisioning/product_register`, { proxieds: [] })).code).toBe(460);
  });

  it('cloud topology actions through the official SDK: BatchAddThingTopo (all or nothing), GetThingTopo, GetGatewayBySubDevice, RemoveThingTopo', async () => {
    const bad = await api().batchAddThingTopo(new $Iot.BatchAddThingTopoRequest({ gwProductKey: PK, gwDeviceName: 'gw-001', topoAddItem: [topoAddItem('sensor-03'), topoAddItem('sensor-99')] }));
    expect(bad.body).toMatchObject({ success: false, code: 'iot.gateway.TopoAddFailed' });
    const topo = async () => (await api().getThingTopo(new $Iot.GetThingTopoRequest({ productKey: PK, deviceName: 'gw-001', pageNo: 1, pageSize: 50 }))).body.data!;
    expect((await topo()).total).toBe(2);
    const ok = await api().batchAddThingTopo(new $Iot.BatchAddThingTopoRequest({ gwProductKey: PK, gwDeviceName: 'gw-001', topoAddItem: [topoAddItem('sensor-03')] }));
    expect(ok.body.success).toBe(true);
    const t = await topo();
    expect(t.total).toBe(3);
    expect(t.list!.deviceInfo!.map((d) => d.deviceName).sort()).toEqual(['sensor-01', 'sensor-02', 'sensor-03']);
    const g = await api().getGatewayBySubDevice(new $Iot.GetGatewayBySubDeviceRequest({ productKey: SUB_PK, deviceName: 'sensor-03' }));
    expect(g.body.data).toMatchObject({ productKey: PK, deviceName: 'gw-001' });
    const notify = nextMessage(gw, (t) => t === `${GW}/thing/topo/add/notify`);
    const n = await api().notifyAddThingTopo(new $Iot.NotifyAddThingTopoRequest({ gwProductKey: PK, gwDeviceName: 'gw-001', deviceListStr: JSON.stringify([{ productKey: SUB_PK, deviceName: 'sensor-03' }]) }));
    expect(n.body.data?.messageId).toBeTruthy();
    expect(JSON.parse((await notify).payload.toString())).toMatchObject({ method: 'thing.topo.add.notify', params: [{ productKey: SUB_PK, deviceName: 'sensor-03' }] });
    expect((await api().removeThingTopo(new $Iot.RemoveThingTopoRequest({ productKey: SUB_PK, deviceName: 'sensor-03' }))).body.data).toBe(true);
    expect((await topo()).total).toBe(2);
  });

  it('batch login is all or nothing: one bad sign fails the batch; then both log in and are ONLINE', async () => {
    expect(await status('sensor-01')).toBe('UNACTIVE');
    const badOne = { ...signed('sensor-02', 'hmacSha256', 'signMethod'), sign: 'ab'.repeat(32) };
    const fail = await request(`${SESSION}/combine/batch_login`, { signMethod: 'hmacSha256', deviceList: [signed('sensor-01', 'hmacSha256', 'signMethod'), badOne] });
    expect(fail.code).toBe(6287);
    expect(await status('sensor-01')).toBe('UNACTIVE');
    // C4/Python: one signMethod beside deviceList, none in the items.
    const items = ['sensor-01', 'sensor-02'].map((dn) => {
      const { signMethod: _m, ...rest } = signed(dn, 'hmacSha256', 'signMethod', { cleanSession: 'false' });
      return rest;
    });
    const ok = await request(`${SESSION}/combine/batch_login`, { signMethod: 'hmacSha256', deviceList: items });
    expect(ok).toMatchObject({ code: 200, data: [{ productKey: SUB_PK, deviceName: 'sensor-01' }, { productKey: SUB_PK, deviceName: 'sensor-02' }] });
    expect(await status('sensor-01')).toBe('ONLINE');
    expect(await status('sensor-02')).toBe('ONLINE');
  });

  it('routes SetDeviceProperty to the sub-device over the gateway and accepts its posts', async () => {
    const sub = `/sys/${SUB_PK}/sensor-01`;
    await gw.subscribeAsync([`${sub}/thing/service/property/set`, `${sub}/thing/event/property/post_reply`]);
    const set = nextMessage(gw, (t) => t === `${sub}/thing/service/property/set`);
    const r = await api().setDeviceProperty(new $Iot.SetDevicePropertyRequest({ productKey: SUB_PK, deviceName: 'sensor-01', items: JSON.stringify({ SetPoint: 21.5 }) }));
    expect(r.body.success).toBe(true);
    expect(JSON.parse((await set).payload.toString())).toMatchObject({ params: { SetPoint: 21.5 }, method: 'thing.service.property.set' });
    const reply = nextMessage(gw, (t) => t === `${sub}/thing/event/property/post_reply`);
    await gw.publishAsync(`${sub}/thing/event/property/post`, JSON.stringify({ id: '77', version: '1.0', params: { Temperature: 22.5 }, method: 'thing.event.property.post' }));
    expect(JSON.parse((await reply).payload.toString())).toMatchObject({ id: '77', code: 200 });
    expect(s.sim.reportedProperties(SUB_PK, 'sensor-01').Temperature?.value).toBe(22.5);
  });

  it('logout takes a sub-device offline; then a post for it gets /ext/error 520 (embedded) or is refused (managed: PUBACK 0x87)', async () => {
    const out = await request(`${SESSION}/combine/logout`, { productKey: SUB_PK, deviceName: 'sensor-02' });
    expect(out.code).toBe(200);
    expect(await status('sensor-02')).toBe('OFFLINE');
    if (mode === 'managed') {
      await expect(gw.publishAsync(`/sys/${SUB_PK}/sensor-02/thing/event/property/post`, '{"id":"78","params":{}}', { qos: 1 })).rejects.toThrow();
      return;
    }
    const err = nextMessage(gw, (t) => t === `/ext/error/${PK}/gw-001`);
    await gw.publishAsync(`/sys/${SUB_PK}/sensor-02/thing/event/property/post`, JSON.stringify({ id: '78', version: '1.0', params: { Temperature: 1 } }));
    expect(JSON.parse((await err).payload.toString())).toMatchObject({ code: 520, data: { productKey: SUB_PK, deviceName: 'sensor-02' } });
  });

  it("OTA over the gateway: a logged-in sub-device's inform is its own, a notice reaches the gateway; a logged-out one's topics are refused", async () => {
    const versions = async (dn: string) => {
      const r = await api().listOTAModuleVersionsByDevice(new $Iot.ListOTAModuleVersionsByDeviceRequest({ productKey: SUB_PK, deviceName: dn, pageSize: 10 }));
      return Object.fromEntries((r.body?.data?.simpleOTAModuleInfo ?? []).map((m) => [m.moduleName, m.moduleVersion]));
    };
    await gw.subscribeAsync([`/ota/device/upgrade/${SUB_PK}/sensor-01`], { qos: 1 });
    await gw.publishAsync(`/ota/device/inform/${SUB_PK}/sensor-01`, JSON.stringify({ id: 1, params: { version: '1.2.3' } }), { qos: 1 });
    for (let i = 0; i < 100 && (await versions('sensor-01')).default !== '1.2.3'; i++) await sleep(20);
    expect(await versions('sensor-01')).toEqual({ default: '1.2.3' });
    const notice = nextMessage(gw, (t) => t === `/ota/device/upgrade/${SUB_PK}/sensor-01`);
    const url = s.sim.ota.uploads.put(Buffer.from('sensor image'));
    const fw = await api().createOTAFirmware(new $Iot.CreateOTAFirmwareRequest({ productKey: SUB_PK, destVersion: '1.3.0', firmwareName: 'sensor 1.3.0', signMethod: 'SHA256', firmwareUrl: url }));
    await api().createOTAStaticUpgradeJob(new $Iot.CreateOTAStaticUpgradeJobRequest({ productKey: SUB_PK, firmwareId: fw.body.data!.firmwareId!, targetSelection: 'SPECIFIC', targetDeviceName: ['sensor-01'] }));
    expect(JSON.parse((await notice).payload.toString())).toMatchObject({ code: '1000', data: { version: '1.3.0' } });
    // sensor-02 was logged out above.
    if (mode === 'managed') {
      await expect(gw.publishAsync(`/ota/device/inform/${SUB_PK}/sensor-02`, JSON.stringify({ id: 2, params: { version: '9.9' } }), { qos: 1 })).rejects.toThrow();
      expect(await versions('sensor-02')).toEqual({});
      return;
    }
    const err = nextMessage(gw, (t) => t === `/ext/error/${PK}/gw-001`);
    await gw.publishAsync(`/ota/device/inform/${SUB_PK}/sensor-02`, JSON.stringify({ id: 2, params: { version: '9.9' } }), { qos: 1 });
    expect(JSON.parse((await err).payload.toString())).toMatchObject({ code: 520, data: { productKey: SUB_PK, deviceName: 'sensor-02' } });
    expect(await versions('sensor-02')).toEqual({});
  });

  it('services, RRpc and Pub reach the sub-device over the gateway; its answers come back', async () => {
    const sub = `/sys/${SUB_PK}/sensor-01`;
    await gw.subscribeAsync([`${sub}/thing/service/+`, `${sub}/rrpc/request/+`, `/${SUB_PK}/sensor-01/user/#`]);
    const answer = (match: (t: string) => boolean, body: (req: { id: string }) => unknown) =>
      nextMessage(gw, match).then(async (m) => {
        const req = JSON.parse(m.payload.toString()) as { id: string };
        await gw.publishAsync(m.topic.replace('/rrpc/request/', '/rrpc/response/'), JSON.stringify(body(req)));
        return req;
      });
    const sync = answer((t) => t.startsWith(`${sub}/rrpc/request/`), (req) => ({ id: req.id, code: 200, data: { Energy: 12.5 } }));
    const r = await api().invokeThingServiceWithOptions(
      new $Iot.InvokeThingServiceRequest({ productKey: SUB_PK, deviceName: 'sensor-01', identifier: 'ReadMeter', args: '{}' }),
      longCallRuntime(),
    );
    expect(r.body.success).toBe(true);
    expect(JSON.parse(r.body.data!.result!)).toEqual({ Energy: 12.5 });
    await sync;
    const asyncCall = nextMessage(gw, (t) => t === `${sub}/thing/service/Reset`);
    const a = await api().invokeThingService(new $Iot.InvokeThingServiceRequest({ productKey: SUB_PK, deviceName: 'sensor-01', identifier: 'Reset', args: '{"DelaySeconds":3}' }));
    expect(a.body.success).toBe(true);
    expect(JSON.parse((await asyncCall).payload.toString())).toMatchObject({ params: { DelaySeconds: 3 } });
    const raw = nextMessage(gw, (t) => t.startsWith(`${sub}/rrpc/request/`)).then(async (m) => {
      await gw.publishAsync(m.topic.replace('/rrpc/request/', '/rrpc/response/'), Buffer.from('pong'));
    });
    const rr = await api().rRpcWithOptions(
      new $Iot.RRpcRequest({ productKey: SUB_PK, deviceName: 'sensor-01', requestBase64Byte: Buffer.from('ping').toString('base64'), timeout: 3000 }),
      longCallRuntime(),
    );
    await raw;
    expect(rr.body.rrpcCode).toBe('SUCCESS');
    expect(Buffer.from(rr.body.payloadBase64Byte!, 'base64').toString()).toBe('pong');
    const pubbed = nextMessage(gw, (t) => t === `/${SUB_PK}/sensor-01/user/cmd`);
    const p = await api().pub(new $Iot.PubRequest({ productKey: SUB_PK, topicFullName: `/${SUB_PK}/sensor-01/user/cmd`, messageContent: Buffer.from('hi').toString('base64'), qos: 1 }));
    expect(p.body.success).toBe(true);
    expect((await pubbed).payload.toString()).toBe('hi');
  });

  it('a sub-device that is not logged in: DeviceOffline for sets and services, OFFLINE for RRpc', async () => {
    const set = await api().setDeviceProperty(new $Iot.SetDevicePropertyRequest({ productKey: SUB_PK, deviceName: 'sensor-02', items: JSON.stringify({ SetPoint: 20 }) }));
    expect(set.body).toMatchObject({ success: false, code: 'iot.device.DeviceOffline' });
    const svc = await api().invokeThingService(new $Iot.InvokeThingServiceRequest({ productKey: SUB_PK, deviceName: 'sensor-02', identifier: 'ReadMeter', args: '{}' }));
    expect(svc.body).toMatchObject({ success: false, code: 'iot.device.DeviceOffline' });
    const rr = await api().rRpc(new $Iot.RRpcRequest({ productKey: SUB_PK, deviceName: 'sensor-02', requestBase64Byte: 'eA==', timeout: 1000 }));
    expect(rr.body.rrpcCode).toBe('OFFLINE');
  });

  it('DisableThing on a sub-device: thing.disable over the gateway, logged out, topo/change 8, DISABLE state, login 6204, its traffic 522 (embedded); EnableThing: topo/change 2', async () => {
    const sub = `/sys/${SUB_PK}/sensor-01`;
    await gw.subscribeAsync(`${sub}/thing/disable`);
    const disable = nextMessage(gw, (t) => t === `${sub}/thing/disable`);
    const change = nextMessage(gw, (t) => t === `${GW}/thing/topo/change`);
    expect((await api().disableThing(new $Iot.DisableThingRequest({ productKey: SUB_PK, deviceName: 'sensor-01' }))).body.success).toBe(true);
    expect(JSON.parse((await disable).payload.toString())).toMatchObject({ method: 'thing.disable' });
    expect(JSON.parse((await change).payload.toString())).toMatchObject({ params: { status: 8, subList: [{ productKey: SUB_PK, deviceName: 'sensor-01' }] } });
    const states = await api().batchGetDeviceState(new $Iot.BatchGetDeviceStateRequest({ productKey: SUB_PK, deviceName: ['sensor-01', 'sensor-02'] }));
    expect(states.body.deviceStatusList!.deviceStatus!.map((d) => d.status)).toEqual(['DISABLE', 'OFFLINE']);
    expect((await request(`${SESSION}/combine/login`, signed('sensor-01', 'hmacSha1', 'signMethod'))).code).toBe(6204);
    if (mode === 'embedded') {
      // Its traffic through the gateway of its topology: /ext/error 522 (disabled), not 520.
      const err = nextMessage(gw, (t) => t === `/ext/error/${PK}/gw-001`);
      await gw.publishAsync(`${sub}/thing/event/property/post`, JSON.stringify({ id: '79', version: '1.0', params: { Temperature: 1 } }));
      expect(JSON.parse((await err).payload.toString())).toMatchObject({ code: 522, data: { productKey: SUB_PK, deviceName: 'sensor-01' } });
    }
    const enabled = nextMessage(gw, (t) => t === `${GW}/thing/topo/change`);
    expect((await api().enableThing(new $Iot.EnableThingRequest({ productKey: SUB_PK, deviceName: 'sensor-01' }))).body.success).toBe(true);
    expect(JSON.parse((await enabled).payload.toString())).toMatchObject({ params: { status: 2 } });
    expect((await request(`${SESSION}/combine/login`, signed('sensor-01', 'hmacSha1', 'signMethod'))).code).toBe(200);
  });

  it('when the gateway drops, its sub-devices go offline', async () => {
    expect(await status('sensor-01')).toBe('ONLINE');
    await gw.endAsync();
    for (let i = 0; i < 50 && (await status('sensor-01')) !== 'OFFLINE'; i++) await sleep(20);
    expect(await status('sensor-01')).toBe('OFFLINE');
  });
});
