/**
 * The device side over MQTT: raw MQTT.js clients (and the official device SDK) acting as devices against the
 * embedded broker: authentication, topic permissions, duplicate logins, QoS and size limits, sessions across a
 * broker restart, and the platform's replies to posts.
 */
import * as $Iot from '@alicloud/iot20180120';
import { connectAsync, MqttClient } from 'mqtt';
import { CloudSimulator } from '../cloud-simulator';
import { createIotClient } from '../sdk-client';
import { capturingLogger, closed, connectDevice, grantedQos, messagesDuring, nextMessage, PK, SECRET, sleep, startSim, testConfig } from './harness';

type Started = Awaited<ReturnType<typeof startSim>>;
let s: Started;
const sims: CloudSimulator[] = [];
const clients: MqttClient[] = [];
let logLines: string[];

async function device(o: Parameters<typeof connectDevice>[1], extra: Parameters<typeof connectDevice>[2] = {}, url = s.mqttUrl): Promise<MqttClient> {
  const c = await connectDevice(url, o, extra);
  clients.push(c);
  return c;
}

beforeAll(async () => {
  const { logger, lines } = capturingLogger('debug');
  logLines = lines;
  const cfg = testConfig({ mqtt: { maxPayloadBytes: 4096, maxSubscriptions: 5, serviceClients: [{ username: 'svc', password: 'svc-password' }] } }, 8);
  const sim = new CloudSimulator(cfg, { logger });
  const urls = await sim.start();
  s = { sim, ...urls };
  sims.push(sim);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await Promise.all(sims.map((x) => x.stop()));
});

const id = (deviceName: string) => ({ productKey: PK, deviceName });

describe('authentication', () => {
  it.each([
    ['hmacsha1', false],
    ['hmacsha256', false],
    ['hmacmd5', false],
    ['hmacsha256', true],
  ] as const)('accepts %s (upper-case hex: %s)', async (signMethod, upperCaseHex) => {
    const online = new Promise((r) => s.sim.once('deviceOnline', r));
    const c = await device({ deviceName: 'gw-001', signMethod, upperCaseHex, clientId: `cid-${signMethod}-${upperCaseHex}` });
    expect(c.connected).toBe(true);
    expect(await online).toMatchObject(id('gw-001'));
    expect(s.sim.deviceStatus(PK, 'gw-001').status).toBe('ONLINE');
    await c.endAsync();
  });

  it('refuses a wrong secret, an unknown device, a non-Alink clientId, a too short keepalive', async () => {
    await expect(connectDevice(s.mqttUrl, { deviceName: 'gw-001', deviceSecret: 'wrong' })).rejects.toMatchObject({ code: 4 });
    await expect(connectDevice(s.mqttUrl, { deviceName: 'gw-999' })).rejects.toMatchObject({ code: 4 });
    await expect(connectDevice(s.mqttUrl, { deviceName: 'gw-001' }, { clientId: 'plain' })).rejects.toMatchObject({ code: 2 });
    await expect(connectDevice(s.mqttUrl, { deviceName: 'gw-001', keepalive: 10 })).rejects.toMatchObject({ code: 3 });
  });

  it("accepts the official device SDK, whose post callbacks fire only on a verbatim id echo", async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const iot = require('alibabacloud-iot-device-sdk') as { device(o: object): SdkDevice };
    interface SdkDevice {
      on(ev: string, cb: (...a: unknown[]) => void): void;
      postProps(p: object, cb: (res: { id: string; code: number }) => void): void;
      end(): void;
    }
    const d = iot.device({ productKey: PK, deviceName: 'gw-008', deviceSecret: SECRET, brokerUrl: s.mqttUrl });
    d.on('error', () => undefined);
    await new Promise<void>((resolve) => d.on('connect', () => resolve()));
    const res = await new Promise<{ id: string; code: number }>((resolve) => d.postProps({ Temperature: 22.5, PM25: 31 }, resolve));
    expect(res.code).toBe(200);
    expect(res.id).toMatch(/\|exp-topic\|/);
    expect(s.sim.reportedProperties(PK, 'gw-008')).toMatchObject({ Temperature: { value: 22.5 }, PM25: { value: 31 } });
    const offline = new Promise((r) => s.sim.once('deviceOffline', r));
    d.end();
    await offline;
  });

  it('never logs the device secret or password', () => {
    const all = logLines.join('\n');
    expect(all).toContain('device connect refused');
    expect(all).not.toContain(SECRET);
    expect(all).not.toMatch(/"password"\s*:\s*"[0-9a-f]{20,}/i);
  });
});

describe('topic permissions and limits', () => {
  it("drops a device that publishes on another device's topic; the other device gets nothing", async () => {
    const victim = await device({ deviceName: 'gw-002' });
    await victim.subscribeAsync(`/${PK}/gw-002/user/#`);
    const attacker = await device({ deviceName: 'gw-003' });
    const gone = closed(attacker);
    const received = messagesDuring(victim, 500);
    attacker.publish(`/${PK}/gw-002/user/update`, 'spoof');
    await gone;
    expect(await received).toEqual([]);
  });

  it("refuses subscriptions to other devices' topics and broad wildcards (SUBACK 128)", async () => {
    const c = await device({ deviceName: 'gw-004' });
    expect(await grantedQos(c, [`/sys/${PK}/gw-002/#`, '#', `/sys/${PK}/gw-004/thing/#`, `/sys/${PK}/+/rrpc/request/+`])).toEqual([128, 128, 0, 128]);
  });

  it('refuses QoS 2: a QoS 2 subscription gets 128, a QoS 2 publish closes the connection', async () => {
    const c = await device({ deviceName: 'gw-004' });
    expect(await grantedQos(c, `/sys/${PK}/gw-004/thing/service/+`, 2)).toEqual([128]);
    const gone = closed(c);
    c.publish(`/sys/${PK}/gw-004/thing/event/property/post`, '{}', { qos: 2 });
    await gone;
  });

  it("never hands a device's publish to devices (itself included); service clients see it", async () => {
    const c = await device({ deviceName: 'gw-003' });
    await c.subscribeAsync(`/${PK}/gw-003/user/#`);
    const svc = await connectAsync(s.mqttUrl, { username: 'svc', password: 'svc-password', clientId: 'svc-1', reconnectPeriod: 0 });
    clients.push(svc);
    await svc.subscribeAsync(`/${PK}/gw-003/user/#`);
    const own = messagesDuring(c, 400);
    const seen = nextMessage(svc, (t) => t === `/${PK}/gw-003/user/update`);
    c.publish(`/${PK}/gw-003/user/update`, 'hello');
    expect((await seen).payload.toString()).toBe('hello');
    expect(await own).toEqual([]);
    const down = nextMessage(c, (t) => t === `/${PK}/gw-003/user/get`);
    svc.publish(`/${PK}/gw-003/user/get`, 'from a service client');
    expect((await down).payload.toString()).toBe('from a service client');
  });

  it('closes a device that publishes more than mqtt.maxPayloadBytes', async () => {
    const c = await device({ deviceName: 'gw-004' });
    const gone = closed(c);
    c.publish(`/${PK}/gw-004/user/update`, Buffer.alloc(5000, 1));
    await gone;
  });

  it('refuses subscriptions beyond mqtt.maxSubscriptions', async () => {
    const c = await device({ deviceName: 'gw-004' });
    const filters = Array.from({ length: 7 }, (_, i) => `/${PK}/gw-004/user/t${i}`);
    expect(await grantedQos(c, filters)).toEqual([0, 0, 0, 0, 0, 128, 128]);
    await c.unsubscribeAsync(filters[0]!);
    expect(await grantedQos(c, `/${PK}/gw-004/user/t9`)).toEqual([0]);
  });
});

describe('one connection per device identity', () => {
  it('a second login with another clientId closes the first', async () => {
    const first = await device({ deviceName: 'gw-005', clientId: 'first' });
    const gone = closed(first);
    const second = await device({ deviceName: 'gw-005', clientId: 'second' });
    await gone;
    await sleep(50);
    expect(second.connected).toBe(true);
    expect(s.sim.deviceStatus(PK, 'gw-005').status).toBe('ONLINE');
  });

  it('a second login with the same clientId closes the first', async () => {
    const first = await device({ deviceName: 'gw-006', clientId: 'same' });
    const gone = closed(first);
    const second = await device({ deviceName: 'gw-006', clientId: 'same' });
    await gone;
    await sleep(50);
    expect(second.connected).toBe(true);
    expect(s.sim.deviceStatus(PK, 'gw-006').status).toBe('ONLINE');
  });
});

describe("the platform's half of Alink", () => {
  let d: MqttClient;
  const t = `/sys/${PK}/gw-007`;
  const post = async (topic: string, payload: string) => {
    const reply = nextMessage(d, (x) => x === `${topic}_reply`);
    d.publish(topic, payload);
    return JSON.parse((await reply).payload.toString()) as { id?: unknown; code: number; message: string; method: string };
  };

  beforeAll(async () => {
    d = await device({ deviceName: 'gw-007' });
    await d.subscribeAsync([`${t}/thing/event/property/post_reply`, `${t}/thing/event/+/post_reply`]);
  });

  it('answers a valid property post 200, echoing the id verbatim, and keeps the values', async () => {
    const r = await post(`${t}/thing/event/property/post`, JSON.stringify({ id: '7|exp-topic|x', version: '1.0', params: { Temperature: { value: 23.5, time: 1700000000000 }, WorkMode: 2 }, method: 'thing.event.property.post' }));
    expect(r).toMatchObject({ id: '7|exp-topic|x', code: 200, method: 'thing.event.property.post' });
    expect(s.sim.reportedProperties(PK, 'gw-007')).toMatchObject({ Temperature: { value: 23.5, time: 1700000000000 }, WorkMode: { value: 2 } });
    const q = await createIotClient(s.httpUrl).queryDevicePropertyStatus(new $Iot.QueryDevicePropertyStatusRequest(id('gw-007')));
    const info = q.body.data?.list?.propertyStatusInfo ?? [];
    expect(info.find((p) => p.identifier === 'Temperature')).toMatchObject({ value: '23.5', time: '1700000000000', dataType: 'float', unit: expect.any(String) });
    expect(info.find((p) => p.identifier === 'WorkMode')).toMatchObject({ value: '2' });
    expect(info.find((p) => p.identifier === 'Humidity')?.value).toBeUndefined();
  });

  it.each([
    [{ ReportInterval: 7200 }, 6306],
    [{ Temperature: 1000.5 }, 6307],
    [{ Humidity: 500.5 }, 6322],
    [{ AlarmEnable: 3 }, 6308],
    [{ WorkMode: 9 }, 6309],
    [{ DeviceAlias: 'x'.repeat(40) }, 6310],
    [{ FanSpeed: 3 }, 6320],
    [{ ReportInterval: 'sixty' }, 6305],
  ])('answers a TSL-breaking post %j with cloud code %i and keeps nothing', async (params, code) => {
    const before = s.sim.reportedProperties(PK, 'gw-007');
    const r = await post(`${t}/thing/event/property/post`, JSON.stringify({ id: '8', version: '1.0', params, method: 'thing.event.property.post' }));
    expect(r.code).toBe(code);
    expect(r.id).toBe('8');
    expect(r.message).toContain(Object.keys(params)[0]);
    expect(s.sim.reportedProperties(PK, 'gw-007')).toEqual(before);
  });

  it('answers malformed posts 460 and a wrong method 6300; sys.ack 0 gets no reply', async () => {
    expect(await post(`${t}/thing/event/property/post`, 'not json')).toMatchObject({ code: 460 });
    expect(await post(`${t}/thing/event/property/post`, '{"id":"9","version":"1.0"}')).toMatchObject({ code: 460, id: '9' });
    expect(await post(`${t}/thing/event/property/post`, '{"id":"10","version":"1.0","params":{"WorkMode":1},"method":"thing.event.nope.post"}')).toMatchObject({ code: 6300, id: '10' });
    const replies = messagesDuring(d, 300);
    d.publish(`${t}/thing/event/property/post`, JSON.stringify({ id: '11', version: '1.0', sys: { ack: 0 }, params: { WorkMode: 0 }, method: 'thing.event.property.post' }));
    expect(await replies).toEqual([]);
    expect(s.sim.reportedProperties(PK, 'gw-007').WorkMode?.value).toBe(0);
  });

  it('answers event posts, keeps them for QueryDeviceEventData, and refuses unknown events with 6300', async () => {
    const r = await post(`${t}/thing/event/HighTemperature/post`, JSON.stringify({ id: '12', version: '1.0', params: { value: { Temperature: 41.5, Threshold: 40.0, SensorId: 'ch3' }, time: 1700000001000 }, method: 'thing.event.HighTemperature.post' }));
    expect(r).toMatchObject({ id: '12', code: 200 });
    const bad = await post(`${t}/thing/event/HighTemperature/post`, JSON.stringify({ id: '13', version: '1.0', params: { value: { Temperature: 41.5 } }, method: 'thing.event.HighTemperature.post' }));
    expect(bad.code).toBe(6303);
    expect(await post(`${t}/thing/event/Meltdown/post`, '{"id":"14","version":"1.0","params":{"value":{}}}')).toMatchObject({ code: 6300 });
    const q = await createIotClient(s.httpUrl).queryDeviceEventData(new $Iot.QueryDeviceEventDataRequest({ ...id('gw-007'), startTime: 0, endTime: Date.now() + 1000 }));
    expect(q.body.data?.list?.eventInfo).toEqual([
      { time: '1700000001000', identifier: 'HighTemperature', name: expect.any(String), eventType: 'alert', outputData: JSON.stringify({ Temperature: 41.5, Threshold: 40.0, SensorId: 'ch3' }) },
    ]);
    expect(q.body.data?.nextValid).toBe(false);
  });

  it('answers NTP requests', async () => {
    await d.subscribeAsync(`/ext/ntp/${PK}/gw-007/response`);
    const got = nextMessage(d, (x) => x.startsWith('/ext/ntp/'));
    d.publish(`/ext/ntp/${PK}/gw-007/request`, '{"deviceSendTime":"1234"}');
    expect(JSON.parse((await got).payload.toString())).toMatchObject({ deviceSendTime: '1234', serverRecvTime: expect.any(String), serverSendTime: expect.any(String) });
  });
});

describe('cloud validation switch', () => {
  it('with cloudValidation false, a read-only or invalid set reaches the device, and its 460 reply is recorded', async () => {
    const loose = await startSim(testConfig({ cloudValidation: false }));
    sims.push(loose.sim);
    const d = await device({ deviceName: 'gw-001' }, {}, loose.mqttUrl);
    await d.subscribeAsync(`/sys/${PK}/gw-001/thing/service/property/set`);
    d.on('message', (topic, payload) => {
      const req = JSON.parse(payload.toString()) as { id: string };
      d.publish(`${topic}_reply`, JSON.stringify({ id: req.id, code: 460, data: {}, message: 'Temperature: read-only' }));
    });
    const res = await createIotClient(loose.httpUrl).setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...id('gw-001'), items: JSON.stringify({ Temperature: 21.5, FanSpeed: 3 }) }));
    expect(res.body.success).toBe(true);
    const reply = await loose.sim.waitForDeviceReply(id('gw-001'), (r) => r.id === res.body.data?.messageId);
    expect(reply).toMatchObject({ kind: 'propertySetReply', code: 460, message: 'Temperature: read-only' });
    expect(loose.sim.deviceReplies(PK, 'gw-001')).toContainEqual(expect.objectContaining({ id: res.body.data?.messageId }));
  });
});

describe('sessions', () => {
  it('keep clean=false subscriptions across a broker restart, so a device that never re-subscribes still gets messages', async () => {
    const restartable = await startSim(testConfig());
    sims.push(restartable.sim);
    const d = await device({ deviceName: 'gw-002', clean: false, clientId: 'persistent', reconnectPeriod: 200 }, { resubscribe: false }, restartable.mqttUrl);
    await d.subscribeAsync(`/sys/${PK}/gw-002/thing/service/property/set`, { qos: 1 });
    const back = new Promise<boolean>((resolve) => d.once('connect', (ack) => resolve(ack.sessionPresent)));
    await restartable.sim.restartBroker(100);
    expect(await back).toBe(true);
    const got = nextMessage(d, (x) => x.endsWith('/property/set'));
    const res = await createIotClient(restartable.httpUrl).setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...id('gw-002'), items: '{"WorkMode":1}' }));
    expect(res.body.success).toBe(true);
    expect(JSON.parse((await got).payload.toString())).toMatchObject({ id: res.body.data?.messageId, params: { WorkMode: 1 } });
  });
});
