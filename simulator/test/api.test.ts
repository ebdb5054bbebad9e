/**
 * The cloud API through the official SDK (`@alicloud/iot20180120`) over real HTTP, with both signature schemes,
 * against a running simulator with raw MQTT.js devices; XML, replays and garbage through raw HTTP.
 */
import * as $Iot from '@alicloud/iot20180120';
import type { MqttClient } from 'mqtt';
import { connect as netConnect } from 'node:net';
import { CloudSimulator } from '../cloud-simulator';
import { createIotClient, longCallRuntime } from '../sdk-client';
import { captureTime, loadVectors } from './vectors';
import { capturingLogger, closed, connectDevice, deviceCredentials, httpRequest, nextMessage, PK, rawCall, SECRET, signAcs3, sleep, startSim, testConfig } from './harness';

type Started = Awaited<ReturnType<typeof startSim>>;

let s: Started;
const devices: MqttClient[] = [];
const sims: CloudSimulator[] = [];

/** gw-001: answers everything; gw-002: connected, never answers; gw-003/4: offline. */
let responder: MqttClient;
let silent: MqttClient;

beforeAll(async () => {
  s = await startSim(testConfig({ limits: { syncServiceTimeoutMs: 1000, qps: { Pub: 100000, RRpc: 100000 } } }));
  sims.push(s.sim);
  responder = await connectDevice(s.mqttUrl, { deviceName: 'gw-001', extra: { ext: '1' } });
  silent = await connectDevice(s.mqttUrl, { deviceName: 'gw-002' });
  devices.push(responder, silent);
  const t = `/sys/${PK}/gw-001`;
  await responder.subscribeAsync([`${t}/thing/service/+`, `${t}/thing/service/property/set`, `${t}/rrpc/request/+`, `/ext/rrpc/+/${PK}/gw-001/user/get`, `/ext/rrpc/+${t}/thing/service/+`]);
  await responder.subscribeAsync(`/${PK}/gw-001/user/#`, { qos: 1 });
  await silent.subscribeAsync([`/sys/${PK}/gw-002/#`]);
  responder.on('message', (topic, payload) => {
    const text = payload.toString();
    const syncReply = () => JSON.stringify({ id: (JSON.parse(text) as { id: string }).id, code: 200, data: { echo: JSON.parse(text) } });
    if (topic.includes('/rrpc/request/')) {
      const reply = text.startsWith('{') && text.includes('"method"') ? syncReply() : `echo:${text}`;
      responder.publish(topic.replace('/request/', '/response/'), reply);
    } else if (topic.startsWith('/ext/rrpc/') && topic.includes('/thing/service/')) {
      // gw-001 connected with ext=1: sync services come as /ext/rrpc/{id}/sys/.../thing/service/{id}, answered there.
      responder.publish(topic, syncReply());
    } else if (topic.startsWith('/ext/rrpc/')) {
      responder.publish(topic, `ext:${payload.toString()}`);
    } else if (topic.endsWith('/property/set')) {
      const req = JSON.parse(payload.toString()) as { id: string };
      responder.publish(`${topic}_reply`, JSON.stringify({ id: req.id, code: 200, data: {} }));
    } else if (topic.includes('/thing/service/')) {
      const req = JSON.parse(payload.toString()) as { id: string };
      responder.publish(`${topic}_reply`, JSON.stringify({ id: req.id, code: 200, data: {} }));
    }
  });
});

afterAll(async () => {
  await Promise.all(devices.map((d) => d.endAsync(true)));
  await Promise.all(sims.map((x) => x.stop()));
});

const gw1 = { productKey: PK, deviceName: 'gw-001' };
/** The same device as wire parameters, for raw calls. */
const GW1 = { ProductKey: PK, DeviceName: 'gw-001' };

function sdkError(e: unknown): { code?: string; statusCode?: number; message: string } {
  return e as { code?: string; statusCode?: number; message: string };
}

async function thrown(p: Promise<unknown>): Promise<{ code?: string; statusCode?: number; message: string }> {
  try {
    await p;
  } catch (e) {
    return sdkError(e);
  }
  throw new Error('expected the call to throw');
}

describe.each([
  ['ACS3-HMAC-SHA256', undefined],
  ['v2 HMAC-SHA1', 'v2' as const],
])('seed APIs through the official SDK, %s', (_name, signatureAlgorithm) => {
  const client = () => createIotClient(s.httpUrl, { signatureAlgorithm });

  it('SetDeviceProperty: publishes the Alink set and returns Data.MessageId; the set_reply is recorded', async () => {
    const res = await client().setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...gw1, items: JSON.stringify({ ReportInterval: 60, WorkMode: 2 }) }));
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatchObject({ success: true, data: { messageId: expect.stringMatching(/^[0-9]+$/) } });
    const reply = await s.sim.waitForDeviceReply(gw1, (r) => r.kind === 'propertySetReply' && r.id === res.body.data?.messageId);
    expect(reply.code).toBe(200);
  });

  it('SetDeviceProperty: read-only and out-of-range values are refused before anything is sent', async () => {
    const sent: string[] = [];
    const on = (m: { topic: string }) => sent.push(m.topic);
    s.sim.on('downstream', on);
    const ro = await client().setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...gw1, items: JSON.stringify({ Temperature: 21.5 }) }));
    expect(ro.body).toMatchObject({ success: false, code: 'iot.thing.PropertyReadOnly' });
    expect(ro.body.errorMessage).toContain('Temperature');
    const bad = await client().setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...gw1, items: JSON.stringify({ ReportInterval: 7200 }) }));
    expect(bad.body).toMatchObject({ success: false, code: 'iot.thing.InvalidFormattedItems' });
    expect(bad.body.errorMessage).toContain('ReportInterval');
    s.sim.off('downstream', on);
    expect(sent).toEqual([]);
  });

  it('SetDevicesProperty: the set goes to each device', async () => {
    const got = nextMessage(silent, (t) => t.endsWith('/property/set'));
    const res = await client().setDevicesProperty(new $Iot.SetDevicesPropertyRequest({ productKey: PK, deviceName: ['gw-001', 'gw-002'], items: JSON.stringify({ AlarmEnable: 1 }) }));
    expect(res.body).toMatchObject({ success: true });
    expect(JSON.parse((await got).payload.toString())).toMatchObject({ method: 'thing.service.property.set', params: { AlarmEnable: 1 } });
  });

  it('RRpc: SUCCESS with the device answer in PayloadBase64Byte and a safe-integer MessageId', async () => {
    const res = await client().rRpcWithOptions(
      new $Iot.RRpcRequest({ ...gw1, requestBase64Byte: Buffer.from('hello').toString('base64'), timeout: 3000 }),
      longCallRuntime(),
    );
    expect(res.body.rrpcCode).toBe('SUCCESS');
    expect(Buffer.from(res.body.payloadBase64Byte ?? '', 'base64').toString()).toBe('echo:hello');
    expect(Number.isSafeInteger(res.body.messageId)).toBe(true);
    expect(res.body.messageId).toBeGreaterThan(0);
  });

  it('RRpc with Topic: request and answer on /ext/rrpc/{id}{Topic}', async () => {
    const res = await client().rRpcWithOptions(
      new $Iot.RRpcRequest({ ...gw1, requestBase64Byte: Buffer.from('hi').toString('base64'), timeout: 3000, topic: `/${PK}/gw-001/user/get` }),
      longCallRuntime(),
    );
    expect(res.body.rrpcCode).toBe('SUCCESS');
    expect(Buffer.from(res.body.payloadBase64Byte ?? '', 'base64').toString()).toBe('ext:hi');
  });

  it('InvokeThingService: async returns Data.MessageId; sync returns Data.Result from the device reply', async () => {
    const a = await client().invokeThingService(new $Iot.InvokeThingServiceRequest({ ...gw1, identifier: 'Reboot', args: JSON.stringify({ DelaySeconds: 3 }) }));
    expect(a.body).toMatchObject({ success: true, data: { messageId: expect.stringMatching(/^[0-9]+$/) } });
    const r = await s.sim.waitForDeviceReply(gw1, (x) => x.kind === 'serviceReply' && x.id === a.body.data?.messageId);
    expect(r.serviceId).toBe('Reboot');
    const sync = await client().invokeThingServiceWithOptions(
      new $Iot.InvokeThingServiceRequest({ ...gw1, identifier: 'Calibrate', args: JSON.stringify({ Sensor: 1, ReferenceValue: 50.5, SettleSeconds: 2 }) }),
      longCallRuntime(),
    );
    expect(sync.body.success).toBe(true);
    expect(JSON.parse(sync.body.data?.result ?? '{}')).toMatchObject({ echo: { method: 'thing.service.Calibrate', params: { Sensor: 1, ReferenceValue: 50.5, SettleSeconds: 2 } } });
  });

  it('InvokeThingService: bad Args and unknown services are refused; a silent device times out; an offline one is reported', async () => {
    const bad = await client().invokeThingService(new $Iot.InvokeThingServiceRequest({ ...gw1, identifier: 'Calibrate', args: JSON.stringify({ Sensor: 9 }) }));
    expect(bad.body).toMatchObject({ success: false, code: 'iot.thing.InvalidFormattedArgs' });
    const unknown = await client().invokeThingService(new $Iot.InvokeThingServiceRequest({ ...gw1, identifier: 'SelfDestruct', args: '{}' }));
    expect(unknown.body).toMatchObject({ success: false, code: 'iot.thing.NotExistedService' });
    const args = JSON.stringify({ Sensor: 0, ReferenceValue: 1, SettleSeconds: 0 });
    const slow = await client().invokeThingServiceWithOptions(new $Iot.InvokeThingServiceRequest({ productKey: PK, deviceName: 'gw-002', identifier: 'Calibrate', args }), longCallRuntime());
    expect(slow.body).toMatchObject({ success: false, code: 'iot.device.InvokeThingServiceTimeout' });
    const off = await client().invokeThingService(new $Iot.InvokeThingServiceRequest({ productKey: PK, deviceName: 'gw-003', identifier: 'Calibrate', args }));
    expect(off.body).toMatchObject({ success: false, code: 'iot.device.DeviceOffline' });
  });

  it('InvokeThingsService: the async call goes to each device; more than 100 is InvalidParameter naming DeviceName', async () => {
    const got = nextMessage(silent, (t) => t.endsWith('/thing/service/Reboot'));
    const ok = await client().invokeThingsService(new $Iot.InvokeThingsServiceRequest({ productKey: PK, deviceName: ['gw-001', 'gw-002'], identifier: 'Reboot', args: '{"DelaySeconds":1}' }));
    expect(ok.body).toMatchObject({ success: true });
    expect(JSON.parse((await got).payload.toString())).toMatchObject({ method: 'thing.service.Reboot', params: { DelaySeconds: 1 } });
    const many = Array.from({ length: 101 }, (_, i) => `dev-${i}`);
    const e = await thrown(client().invokeThingsService(new $Iot.InvokeThingsServiceRequest({ productKey: PK, deviceName: many, identifier: 'Reboot', args: '{}' })));
    expect(e).toMatchObject({ code: 'InvalidParameter', statusCode: 400 });
    expect(e.message).toContain('DeviceName');
  });

  it('Pub: QoS 0 and 1 reach the subscribed device; MessageId is a string', async () => {
    for (const qos of [0, 1]) {
      const got = nextMessage(responder, (t) => t === `/${PK}/gw-001/user/get`);
      const res = await client().pub(new $Iot.PubRequest({ productKey: PK, topicFullName: `/${PK}/gw-001/user/get`, messageContent: Buffer.from(`q${qos}`).toString('base64'), qos }));
      expect(res.body).toMatchObject({ success: true, messageId: expect.stringMatching(/^[0-9]+$/) });
      const m = await got;
      expect(m.payload.toString()).toBe(`q${qos}`);
      expect(m.packet.qos).toBe(qos);
    }
  });

  it('GetDeviceStatus, RegisterDevice', async () => {
    const st = await client().getDeviceStatus(new $Iot.GetDeviceStatusRequest(gw1));
    expect(st.body).toMatchObject({ success: true, data: { status: 'ONLINE', timestamp: expect.any(Number) } });
    const never = await client().getDeviceStatus(new $Iot.GetDeviceStatusRequest({ productKey: PK, deviceName: 'gw-004' }));
    expect(never.body.data?.status).toBe('UNACTIVE');
    const reg = await client().registerDevice(new $Iot.RegisterDeviceRequest({ productKey: PK, nickname: 'lab unit' }));
    expect(reg.body).toMatchObject({ success: true, data: { productKey: PK, deviceName: expect.any(String), deviceSecret: expect.stringMatching(/^[0-9a-f]{32}$/), iotId: expect.any(String) } });
    const byId = await client().getDeviceStatus(new $Iot.GetDeviceStatusRequest({ iotId: reg.body.data?.iotId }));
    expect(byId.body.data?.status).toBe('UNACTIVE');
    const dup = await client().registerDevice(new $Iot.RegisterDeviceRequest({ productKey: PK, deviceName: 'gw-001' }));
    expect(dup.body).toMatchObject({ success: false, code: 'iot.device.AlreadyExistedDeviceName' });
  });

  it('an unknown device is HTTP 200 Success:false iot.device.NotExistedDevice, returned (not thrown)', async () => {
    const res = await client().setDeviceProperty(new $Iot.SetDevicePropertyRequest({ productKey: PK, deviceName: 'nobody', items: '{"WorkMode":1}' }));
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatchObject({ success: false, code: 'iot.device.NotExistedDevice' });
    const prod = await client().rRpc(new $Iot.RRpcRequest({ productKey: 'a1Nope', deviceName: 'x', requestBase64Byte: 'AA==', timeout: 1000 }));
    expect(prod.body).toMatchObject({ success: false, code: 'iot.prod.NotExistedProduct' });
  });

  it('missing and malformed parameters are MissingParameter / InvalidParameter naming the parameter', async () => {
    const miss = await thrown(client().setDeviceProperty(new $Iot.SetDevicePropertyRequest({ productKey: PK, items: '{}' })));
    expect(miss).toMatchObject({ code: 'MissingParameter', statusCode: 400 });
    expect(miss.message).toContain('DeviceName');
    const timeout = await thrown(client().rRpc(new $Iot.RRpcRequest({ ...gw1, requestBase64Byte: 'AA==', timeout: 9000 })));
    expect(timeout).toMatchObject({ code: 'InvalidParameter', statusCode: 400 });
    expect(timeout.message).toContain('Timeout');
    const items = await thrown(client().setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...gw1, items: '{"WorkMode":' })));
    expect(items.message).toContain('Items');
    const args = await thrown(client().invokeThingService(new $Iot.InvokeThingServiceRequest({ ...gw1, identifier: 'Reboot', args: '[1,2]' })));
    expect(args.message).toContain('Args');
    const b64 = await thrown(client().pub(new $Iot.PubRequest({ productKey: PK, topicFullName: `/${PK}/gw-001/user/get`, messageContent: 'not base64!' })));
    expect(b64).toMatchObject({ code: 'InvalidParameter' });
    expect(b64.message).toContain('MessageContent');
    const qos = await thrown(client().pub(new $Iot.PubRequest({ productKey: PK, topicFullName: `/${PK}/gw-001/user/get`, messageContent: 'AA==', qos: 2 })));
    expect(qos.message).toContain('Qos');
    const topic = await thrown(client().pub(new $Iot.PubRequest({ productKey: PK, topicFullName: `/sys/${PK}/gw-001/thing/service/property/set`, messageContent: 'AA==' })));
    expect(topic.message).toContain('TopicFullName');
  });

  it('a wrong AccessKeyId is InvalidAccessKeyId.NotFound 404, a wrong secret SignatureDoesNotMatch 400', async () => {
    const ak = await thrown(createIotClient(s.httpUrl, { signatureAlgorithm, accessKeyId: 'nobody' }).getDeviceStatus(new $Iot.GetDeviceStatusRequest(gw1)));
    expect(ak).toMatchObject({ code: 'InvalidAccessKeyId.NotFound', statusCode: 404 });
    const sec = await thrown(createIotClient(s.httpUrl, { signatureAlgorithm, accessKeySecret: 'wrong' }).getDeviceStatus(new $Iot.GetDeviceStatusRequest(gw1)));
    expect(sec).toMatchObject({ code: 'SignatureDoesNotMatch', statusCode: 400 });
  });
});

describe('the API over raw HTTP', () => {
  it('answers in XML with Format=XML: <ActionResponse> for results, <Error> with text/xml;charset=utf-8 for errors', async () => {
    const ok = await rawCall(s.httpUrl, 'GetDeviceStatus', { ...GW1, Format: 'XML' });
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toBe('text/xml;charset=utf-8');
    expect(ok.body).toMatch(/^<\?xml version='1.0' encoding='UTF-8'\?><GetDeviceStatusResponse><RequestId>[0-9A-F-]{36}<\/RequestId><Success>true<\/Success><Data><Status>ONLINE<\/Status><Timestamp>\d+<\/Timestamp><\/Data><\/GetDeviceStatusResponse>$/);
    const list = await rawCall(s.httpUrl, 'QueryDevicePropertyStatus', { ...GW1, Format: 'XML' });
    expect(list.body).toContain('<List><PropertyStatusInfo><Identifier>Temperature</Identifier>');
    const err = await rawCall(s.httpUrl, 'RRpc', { ...GW1, Format: 'XML', RequestBase64Byte: 'AA==', Timeout: '50' });
    expect(err.status).toBe(400);
    expect(err.headers['content-type']).toBe('text/xml;charset=utf-8');
    expect(err.body).toMatch(/<Error><RequestId>.*<\/RequestId><HostId>.*<\/HostId><Code>InvalidParameter<\/Code><Message>The parameter Timeout is invalid/);
    const biz = await rawCall(s.httpUrl, 'GetDeviceStatus', { ProductKey: PK, DeviceName: 'nobody', Format: 'XML' });
    expect(biz.body).toContain('<Success>false</Success><Code>iot.device.NotExistedDevice</Code>');
  });

  it('refuses a replayed nonce with SignatureNonceUsed and a stale timestamp with InvalidTimeStamp.Expired', async () => {
    const host = new URL(s.httpUrl).host;
    const signed = signAcs3({ host, action: 'GetDeviceStatus', params: GW1 });
    const send = () => httpRequest(s.httpUrl, { path: signed.path, headers: { ...signed.headers, 'content-length': '0' } });
    expect((await send()).status).toBe(200);
    const again = await send();
    expect(again.status).toBe(400);
    expect(JSON.parse(again.body)).toMatchObject({ Code: 'SignatureNonceUsed' });
    const stale = await rawCall(s.httpUrl, 'GetDeviceStatus', GW1, { date: new Date(Date.now() - 20 * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z') });
    expect(stale.status).toBe(400);
    expect(JSON.parse(stale.body)).toMatchObject({ Code: 'InvalidTimeStamp.Expired' });
  });

  it('answers unknown actions, unsigned requests and other methods with the error shape', async () => {
    const unknown = await rawCall(s.httpUrl, 'DeleteEverything', {});
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body)).toMatchObject({ Code: 'InvalidAction.NotFound', RequestId: expect.any(String) });
    const unsigned = await httpRequest(s.httpUrl, { path: '/?Action=GetDeviceStatus', body: '' });
    expect(JSON.parse(unsigned.body)).toMatchObject({ Code: 'IncompleteSignature' });
    const put = await httpRequest(s.httpUrl, { method: 'PUT', path: '/', body: '' });
    expect(JSON.parse(put.body)).toMatchObject({ Code: 'UnsupportedHTTPMethod' });
  });

  it('survives garbage: random bodies, huge parameters, broken encodings, non-HTTP bytes', async () => {
    const host = new URL(s.httpUrl).host;
    const tries: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      const junk = Buffer.from(Array.from({ length: 200 + i * 50 }, (_, j) => (j * 7919 + i * 104729) % 256));
      tries.push(httpRequest(s.httpUrl, { path: '/?Action=Pub', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: junk }));
    }
    tries.push(httpRequest(s.httpUrl, { path: '/?a=%E5%&b=%zz', body: 'x=%%%' }));
    tries.push(rawCall(s.httpUrl, 'SetDeviceProperty', { ...GW1, Items: 'x'.repeat(300_000) }));
    tries.push(httpRequest(s.httpUrl, { path: `/?${'A'.repeat(700_000)}=1`, body: '' }).catch(() => undefined));
    tries.push(rawCall(s.httpUrl, 'SetDeviceProperty', { ...GW1, Items: '{"WorkMode":' }));
    tries.push(rawCall(s.httpUrl, 'InvokeThingService', { ...GW1, Identifier: 'Reboot', Args: '{{{' }));
    tries.push(rawCall(s.httpUrl, 'RRpc', { ...GW1, RequestBase64Byte: '@@@@', Timeout: '1000' }));
    tries.push(rawCall(s.httpUrl, 'Pub', { ProductKey: PK, TopicFullName: `/${PK}/gw-001/user/get`, 'UserProp.1.Key': 'k' }, { body: 'MessageContent=AA%3D%3D' }));
    tries.push(rawCall(s.httpUrl, 'InvokeThingsService', { ProductKey: PK, Identifier: 'Reboot', Args: '{}', 'DeviceName.99999': 'x' }));
    tries.push(rawCall(s.httpUrl, 'QueryDeviceEventData', { ...GW1, StartTime: 'soon', EndTime: '1' }));
    const big = Buffer.alloc(2 * 1024 * 1024, 'a');
    tries.push(httpRequest(s.httpUrl, { path: '/', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: big }).catch(() => undefined));
    tries.push(
      new Promise<void>((resolve) => {
        const sock = netConnect(Number(new URL(s.httpUrl).port), '127.0.0.1', () => sock.end('\x00\x01garbage\r\n\r\n'));
        sock.on('close', () => resolve());
        sock.on('error', () => resolve());
        sock.resume();
      }),
    );
    const results = await Promise.all(tries);
    for (const r of results) {
      if (r && typeof r === 'object' && 'status' in r) {
        const res = r as { status: number; body: string };
        expect(res.status).toBeGreaterThanOrEqual(200);
        expect(res.status).toBeLessThan(500);
      }
    }
    const after = await rawCall(s.httpUrl, 'GetDeviceStatus', GW1);
    expect(JSON.parse(after.body)).toMatchObject({ Success: true });
    expect(host).toBeTruthy();
  });

  it('throttles per account and action with Throttling.User', async () => {
    const t = await startSim(testConfig({ limits: { qps: { Pub: 3 } } }));
    sims.push(t.sim);
    const client = createIotClient(t.httpUrl);
    const req = () => client.pub(new $Iot.PubRequest({ productKey: PK, topicFullName: `/${PK}/gw-001/user/get`, messageContent: 'AA==' }));
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => req().then(() => 'ok', (e: unknown) => sdkError(e).code)));
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(3);
    expect(outcomes.filter((o) => o === 'Throttling.User')).toHaveLength(3);
    const other = await createIotClient(t.httpUrl, { accessKeyId: 'otherAK', accessKeySecret: 'otherSecret' }).pub(
      new $Iot.PubRequest({ productKey: PK, topicFullName: `/${PK}/gw-001/user/get`, messageContent: 'AA==' }),
    );
    expect(other.body.success).toBe(true);
  });
});

describe('captured SDK requests replayed over HTTP', () => {
  it('each of the 12 vectors verifies against a simulator whose clock is the capture time', async () => {
    const vectors = loadVectors();
    const cfg = testConfig({
      products: [{ productKey: 'a1TestPK01', tsl: testConfig().products[0]!.tsl }],
      devices: ['dev1', 'dev2', 'dev3'].map((deviceName) => ({ productKey: 'a1TestPK01', deviceName, deviceSecret: SECRET })),
      cloudValidation: false,
    });
    const t = await startSim(cfg, { clock: () => captureTime(vectors[0]!) });
    sims.push(t.sim);
    const expectations: Record<string, (b: Record<string, unknown>) => void> = {
      SetDeviceProperty: (b) => expect(b).toMatchObject({ Success: true, Data: { MessageId: expect.any(String) } }),
      'RRpc (no-topic)': (b) => expect(b).toMatchObject({ Success: true, RrpcCode: 'OFFLINE', MessageId: 0 }),
      'RRpc (with-topic)': (b) => expect(b).toMatchObject({ Success: true, RrpcCode: 'OFFLINE' }),
      InvokeThingsService: (b) => expect(b).toMatchObject({ Success: true }),
      InvokeThingService: (b) => expect(b).toMatchObject({ Success: true, Data: { MessageId: expect.any(String) } }),
      Pub: (b) => expect(b).toMatchObject({ Success: true, MessageId: expect.any(String) }),
    };
    for (const v of vectors) {
      const res = await httpRequest(t.httpUrl, { method: v.method, path: `${v.path}?${v.rawQuery}`, headers: v.headers, body: v.body });
      expect(res.status).toBe(200);
      expectations[v.api]!(JSON.parse(res.body) as Record<string, unknown>);
      const replay = await httpRequest(t.httpUrl, { method: v.method, path: `${v.path}?${v.rawQuery}`, headers: v.headers, body: v.body });
      expect(JSON.parse(replay.body)).toMatchObject({ Code: 'SignatureNonceUsed' });
    }
  });
});

describe('long calls', () => {
  it('RRpc TIMEOUT when the device stays silent', async () => {
    const client = createIotClient(s.httpUrl);
    const started = Date.now();
    const res = await client.rRpcWithOptions(new $Iot.RRpcRequest({ productKey: PK, deviceName: 'gw-002', requestBase64Byte: 'AA==', timeout: 1000 }), longCallRuntime());
    expect(res.body).toMatchObject({ success: true, rrpcCode: 'TIMEOUT' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(res.body.messageId).toBeGreaterThan(0);
  });

  it('RRpc OFFLINE for a device that is not connected, HALFCONN right after it dropped', async () => {
    const client = createIotClient(s.httpUrl);
    const off = await client.rRpc(new $Iot.RRpcRequest({ productKey: PK, deviceName: 'gw-004', requestBase64Byte: 'AA==', timeout: 1000 }));
    expect(off.body).toMatchObject({ success: true, rrpcCode: 'OFFLINE', messageId: 0 });
    const d = await connectDevice(s.mqttUrl, { deviceName: 'gw-004' });
    const offline = new Promise((r) => s.sim.once('deviceOffline', r));
    d.stream.destroy();
    await offline;
    await d.endAsync(true);
    const half = await client.rRpc(new $Iot.RRpcRequest({ productKey: PK, deviceName: 'gw-004', requestBase64Byte: 'AA==', timeout: 1000 }));
    expect(half.body).toMatchObject({ success: true, rrpcCode: 'HALFCONN', messageId: 0 });
    const d2 = await connectDevice(s.mqttUrl, { deviceName: 'gw-004' });
    await d2.endAsync();
    await sleep(100);
    const clean = await client.rRpc(new $Iot.RRpcRequest({ productKey: PK, deviceName: 'gw-004', requestBase64Byte: 'AA==', timeout: 1000 }));
    expect(clean.body.rrpcCode).toBe('OFFLINE');
    await closed(d2).catch(() => undefined);
  });
});

describe('logs', () => {
  it('carry no AccessKey secret, signature, device secret or password, even at debug level', async () => {
    const { logger, lines } = capturingLogger('trace');
    const sim = new CloudSimulator(testConfig(), { logger });
    sims.push(sim);
    const { httpUrl, mqttUrl } = await sim.start();
    const client = createIotClient(httpUrl);
    await client.getDeviceStatus(new $Iot.GetDeviceStatusRequest(gw1));
    const reg = await client.registerDevice(new $Iot.RegisterDeviceRequest({ productKey: PK, deviceName: 'logged-one' }));
    await thrown(createIotClient(httpUrl, { accessKeySecret: 'wrongSecretValue' }).getDeviceStatus(new $Iot.GetDeviceStatusRequest(gw1)));
    await thrown(createIotClient(httpUrl, { signatureAlgorithm: 'v2', accessKeySecret: 'wrongSecretValue' }).getDeviceStatus(new $Iot.GetDeviceStatusRequest(gw1)));
    const signed = signAcs3({ host: new URL(httpUrl).host, action: 'GetDeviceStatus', params: { ProductKey: PK, DeviceName: 'gw-001' } });
    const signature = /Signature=([0-9a-f]+)/.exec(signed.headers.authorization!)![1]!;
    await httpRequest(httpUrl, { path: signed.path, headers: { ...signed.headers, 'content-length': '0' } });
    const d = await connectDevice(mqttUrl, { deviceName: 'gw-002' });
    const password = deviceCredentials({ deviceName: 'gw-002', deviceSecret: 'bad' }).password;
    await connectDevice(mqttUrl, { deviceName: 'gw-002', deviceSecret: 'bad' }).catch(() => undefined);
    await d.endAsync();
    const all = lines.join('\n');
    expect(lines.length).toBeGreaterThan(5);
    for (const secret of ['testSecret', 'wrongSecretValue', SECRET, reg.body.data!.deviceSecret!, signature, password]) expect(all).not.toContain(secret);
  });
});
