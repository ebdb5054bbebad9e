/**
 * The official Node device SDK (`alibabacloud-iot-device-sdk` 1.2.8, a dev dependency) as a device against the
 * simulator, driven by the official cloud SDK, on each broker mode: its sign methods, postProps, postEvent in
 * both forms, onProps, onService async and sync, raw RRpc, Pub, and GetDeviceStatus after end().
 */
import * as $Iot from '@alicloud/iot20180120';
import { createIotClient, longCallRuntime } from '../sdk-client';
import { BROKER_MODES, modeConfig, PK, SECRET, sleep, startSim, testConfig } from './harness';

interface AlinkMsg {
  id: string;
  params: Record<string, unknown>;
  method?: string;
}
interface SdkDevice {
  on(ev: string, cb: (...a: unknown[]) => void): void;
  postProps(p: object, cb: (res: { id: string; code: number }) => void): void;
  postEvent(name: string, p: object, cb: (res: { id: string; code: number; message?: string }) => void): void;
  onProps(cb: (res: AlinkMsg) => void): void;
  onService(name: string, cb: (res: AlinkMsg, reply: (body: object, mode?: 'sync') => void) => void): void;
  subscribe(topic: string): void;
  publish(topic: string, message: string): void;
  end(force?: boolean, cb?: () => void): void;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const iot = require('alibabacloud-iot-device-sdk') as { device(o: object): SdkDevice };

function sdkDevice(mqttUrl: string, deviceName: string, signAlgorithm?: string): SdkDevice {
  const d = iot.device({ productKey: PK, deviceName, deviceSecret: SECRET, brokerUrl: mqttUrl, ...(signAlgorithm ? { signAlgorithm } : {}) });
  d.on('error', () => undefined);
  return d;
}

function connected(d: SdkDevice, ms = 5000): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    d.on('connect', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

describe.each(BROKER_MODES)('the official Node device SDK (%s broker)', (mode) => {
  let s: Awaited<ReturnType<typeof startSim>>;
  let d: SdkDevice;
  const dn = 'gw-005';
  const gw = { productKey: PK, deviceName: dn };
  const api = () => createIotClient(s.httpUrl);

  beforeAll(async () => {
    s = await startSim(testConfig({ ...modeConfig(mode), limits: { syncServiceTimeoutMs: 3000 } }, 8));
    d = sdkDevice(s.mqttUrl, dn);
    expect(await connected(d)).toBe(true);
  });
  afterAll(async () => {
    await s?.sim.stop();
  });

  it('sha1 (its default) connects; sha256 and md5 are refused, because the SDK signs them with HMAC-SHA1 anyway', async () => {
    for (const [alg, ok] of [['sha1', true], ['sha256', false], ['md5', false]] as const) {
      const x = sdkDevice(s.mqttUrl, 'gw-006', alg);
      expect([alg, await connected(x, 1500)]).toEqual([alg, ok]);
      await new Promise<void>((r) => x.end(true, () => r()));
    }
  });

  it('postProps is answered 200 with its own id echoed, and stored', async () => {
    const res = await new Promise<{ id: string; code: number }>((r) => d.postProps({ Temperature: 23.5, PM25: 12 }, r));
    expect(res.code).toBe(200);
    expect(s.sim.reportedProperties(PK, dn)).toMatchObject({ Temperature: { value: 23.5 } });
  });

  it('postEvent is answered 200 in both forms: {value: {...}} and the bare output members of its README', async () => {
    const wrapped = await new Promise<{ code: number }>((r) => d.postEvent('HighTemperature', { value: { Temperature: 41, Threshold: 40, SensorId: 'a' } }, r));
    const bare = await new Promise<{ code: number }>((r) => d.postEvent('HighTemperature', { Temperature: 42, Threshold: 40, SensorId: 'b' }, r));
    expect([wrapped.code, bare.code]).toEqual([200, 200]);
    expect(s.sim.deviceEvents(PK, dn).map((e) => JSON.parse(e.outputData).SensorId)).toEqual(expect.arrayContaining(['a', 'b']));
  });

  it('onProps gets a SetDeviceProperty; the set_reply the app sends is recorded', async () => {
    d.onProps((res) => d.publish(`/sys/${PK}/${dn}/thing/service/property/set_reply`, JSON.stringify({ id: res.id, code: 200, data: {} })));
    const res = await api().setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...gw, items: JSON.stringify({ ReportInterval: 45 }) }));
    const r = await s.sim.waitForDeviceReply(gw, (x) => x.kind === 'propertySetReply' && x.id === res.body.data?.messageId);
    expect(r.code).toBe(200);
  });

  it('onService answers an async service and a sync one (over /rrpc/request: the SDK sends no ext bit)', async () => {
    d.onService('Reboot', (res, reply) => reply({ id: res.id, code: 200, data: {} }));
    d.onService('Calibrate', (res, reply) => reply({ id: res.id, code: 200, data: { Success: 1, Offset: 0.1, CalibratedAt: '1700000000000', Message: 'sdk' } }, 'sync'));
    await sleep(200);
    const a = await api().invokeThingService(new $Iot.InvokeThingServiceRequest({ ...gw, identifier: 'Reboot', args: JSON.stringify({ DelaySeconds: 1 }) }));
    await s.sim.waitForDeviceReply(gw, (x) => x.kind === 'serviceReply' && x.id === a.body.data?.messageId);
    const sync = await api().invokeThingServiceWithOptions(
      new $Iot.InvokeThingServiceRequest({ ...gw, identifier: 'Calibrate', args: JSON.stringify({ Sensor: 1, ReferenceValue: 20, SettleSeconds: 1 }) }),
      longCallRuntime(),
    );
    expect(sync.body.success).toBe(true);
    expect(JSON.parse(sync.body.data?.result ?? '{}')).toMatchObject({ Message: 'sdk' });
  });

  it('RRpc: the raw request reaches the message event and the answer comes back; Pub reaches a subscribed custom topic', async () => {
    const pubs: string[] = [];
    d.on('message', (topic, payload) => {
      const t = String(topic);
      if (t.includes('/rrpc/request/') && !String(payload).startsWith('{')) d.publish(t.replace('/request/', '/response/'), `sdk:${String(payload)}`);
      if (t === `/${PK}/${dn}/user/get`) pubs.push(String(payload));
    });
    d.subscribe(`/${PK}/${dn}/user/get`);
    const res = await api().rRpcWithOptions(new $Iot.RRpcRequest({ ...gw, requestBase64Byte: Buffer.from('raw').toString('base64'), timeout: 3000 }), longCallRuntime());
    expect(res.body.rrpcCode).toBe('SUCCESS');
    expect(Buffer.from(res.body.payloadBase64Byte ?? '', 'base64').toString()).toBe('sdk:raw');
    const pub = await api().pub(new $Iot.PubRequest({ productKey: PK, topicFullName: `/${PK}/${dn}/user/get`, messageContent: Buffer.from('hello').toString('base64'), qos: 1 }));
    expect(pub.body.success).toBe(true);
    for (let i = 0; i < 100 && pubs.length === 0; i++) await sleep(20);
    expect(pubs).toEqual(['hello']);
  });

  it('GetDeviceStatus is OFFLINE after end()', async () => {
    const offline = new Promise((r) => s.sim.once('deviceOffline', r));
    await new Promise<void>((r) => d.end(false, () => r()));
    await offline;
    const st = await api().getDeviceStatus(new $Iot.GetDeviceStatusRequest(gw));
    expect(st.body.data?.status).toBe('OFFLINE');
  });
});
