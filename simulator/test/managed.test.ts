/**
 * Managed mode (mosquitto 2.0 started by the simulator, with the Alink plugin): the platform's rules on an MQTT 5
 * broker. Wrong secrets and bad client ids refused, every sign method and spelling accepted, the topic ACL,
 * no device-to-device traffic, exact presence (OFFLINE after DISCONNECT, HALFCONN after a dropped TCP
 * connection), duplicate logins kicked, Pub's MQTT 5 properties, devices registered at run time, sessions across
 * a broker restart.
 */
import * as $Iot from '@alicloud/iot20180120';
import { ErrorWithReasonCode, MqttClient } from 'mqtt';
import { createIotClient, longCallRuntime } from '../sdk-client';
import { closed, connectDevice, deviceCredentials, DeviceOptions, grantedQos, messagesDuring, nextMessage, PK, sleep, startSim, testConfig } from './harness';

let s: Awaited<ReturnType<typeof startSim>>;
const open: MqttClient[] = [];
const v5 = { protocolVersion: 5 as const };

async function device(o: DeviceOptions, extra = {}): Promise<MqttClient> {
  const c = await connectDevice(s.mqttUrl, o, { ...v5, ...extra });
  open.push(c);
  return c;
}

function refusal(o: DeviceOptions, extra = {}): Promise<number | undefined> {
  return connectDevice(s.mqttUrl, o, { ...v5, ...extra }).then(
    (c) => {
      open.push(c);
      return 0;
    },
    (e: unknown) => (e instanceof ErrorWithReasonCode ? e.code : (e as { code?: number }).code),
  );
}

/** The PUBACK reason code of a QoS 1 publish (MQTT.js rejects on a failure code). */
function pubackCode(c: MqttClient, topic: string, payload: string | Buffer): Promise<number> {
  return c.publishAsync(topic, payload, { qos: 1 }).then(
    (p) => (p as { reasonCode?: number } | undefined)?.reasonCode ?? 0,
    (e: unknown) => (e instanceof ErrorWithReasonCode ? e.code : -1),
  );
}

beforeAll(async () => {
  s = await startSim(testConfig({ mqtt: { mode: 'managed', maxPayloadBytes: 4096 }, limits: { syncServiceTimeoutMs: 1000 } }, 8));
});
afterAll(async () => {
  await Promise.all(open.map((c) => c.endAsync(true)));
  await s?.sim.stop();
});
const api = () => createIotClient(s.httpUrl);
const status = async (dn: string) => (await api().getDeviceStatus(new $Iot.GetDeviceStatusRequest({ productKey: PK, deviceName: dn }))).body.data?.status;
const rrpc = (dn: string, timeout = 1000) =>
  api().rRpcWithOptions(new $Iot.RRpcRequest({ productKey: PK, deviceName: dn, requestBase64Byte: Buffer.from('x').toString('base64'), timeout }), longCallRuntime());

describe('managed MQTT 5 broker: authentication', () => {
  it('refuses a wrong secret, an unknown device, a non-Alink clientId and a short keepalive with "not authorized"', async () => {
    expect(await refusal({ deviceName: 'gw-001', deviceSecret: 'wrong' })).toBe(0x87);
    expect(await refusal({ deviceName: 'nobody' })).toBe(0x87);
    expect(await refusal({ deviceName: 'gw-001', keepalive: 10 })).toBe(0x87);
    expect(await refusal({ deviceName: 'gw-001' }, { clientId: 'plain-client-id' })).toBe(0x87);
  });

  it.each([
    ['hmacsha256', {}],
    ['hmacsha1', {}],
    ['hmacmd5', {}],
    ['hmacsha256 with upper-case hex', { upperCaseHex: true }],
  ] as const)('accepts %s', async (method, extra) => {
    const signMethod = method.split(' ')[0] as DeviceOptions['signMethod'];
    const c = await device({ deviceName: 'gw-002', signMethod, ...extra });
    expect(c.connected).toBe(true);
    await c.endAsync();
  });

  it('accepts the other spellings of signmethod (hmacSha256, sha256) and MQTT 3.1.1 clients', async () => {
    for (const spelled of ['hmacSha256', 'sha256']) {
      // hmacsha256 credentials with the method written another way in the clientId.
      const creds = deviceCredentials({ deviceName: 'gw-002', signMethod: 'hmacsha256' });
      const c2 = await connectDevice(s.mqttUrl, { deviceName: 'gw-002' }, { ...v5, clientId: creds.clientId.replace('signmethod=hmacsha256', `signmethod=${spelled}`), password: creds.password });
      expect(c2.connected).toBe(true);
      await c2.endAsync();
    }
    const v311 = await connectDevice(s.mqttUrl, { deviceName: 'gw-002' });
    expect(v311.connected).toBe(true);
    await v311.endAsync();
  });

  it('lets a device registered at run time connect at once', async () => {
    const reg = await api().registerDevice(new $Iot.RegisterDeviceRequest({ productKey: PK, deviceName: 'late-001' }));
    const c = await device({ deviceName: 'late-001', deviceSecret: reg.body.data?.deviceSecret });
    expect(c.connected).toBe(true);
    await c.endAsync();
  });
});

describe('managed MQTT 5 broker: topic rules', () => {
  it("refuses a subscription to another device's topics and a publish on them; the other device gets nothing", async () => {
    const victim = await device({ deviceName: 'gw-003' });
    await victim.subscribeAsync(`/${PK}/gw-003/user/#`);
    const attacker = await device({ deviceName: 'gw-004' });
    expect(await grantedQos(attacker, `/sys/${PK}/gw-003/#`)).toEqual([0x87]);
    expect(await grantedQos(attacker, '#')).toEqual([0x87]);
    expect(await grantedQos(attacker, `/sys/${PK}/gw-004/#`)).toEqual([0]);
    const during = messagesDuring(victim, 300);
    expect(await pubackCode(attacker, `/${PK}/gw-003/user/update`, 'intrusion')).toBe(0x87);
    expect(await during).toEqual([]);
  });

  it('does not echo a device its own publishes, and refuses a payload over mqtt.maxPayloadBytes', async () => {
    const d = await device({ deviceName: 'gw-003', clientId: 'echo-test' });
    await d.subscribeAsync(`/${PK}/gw-003/user/#`);
    const during = messagesDuring(d, 300);
    const got = new Promise((r) => s.sim.once('deviceMessage', r));
    expect(await pubackCode(d, `/${PK}/gw-003/user/update`, 'mine')).toBe(0);
    await got;
    expect(await during).toEqual([]);
    expect(await pubackCode(d, `/${PK}/gw-003/user/update`, Buffer.alloc(5000))).toBe(0x87);
  });

  it('delivers Pub with ResponseTopic, CorrelationData and user properties to an MQTT 5 device', async () => {
    const d = await device({ deviceName: 'gw-005' });
    await d.subscribeAsync(`/${PK}/gw-005/user/get`, { qos: 1 });
    const got = nextMessage(d, (t) => t === `/${PK}/gw-005/user/get`);
    const res = await api().pub(
      new $Iot.PubRequest({
        productKey: PK,
        topicFullName: `/${PK}/gw-005/user/get`,
        messageContent: Buffer.from('{"cmd":"on"}').toString('base64'),
        qos: 1,
        responseTopic: `/${PK}/gw-005/user/resp`,
        correlationData: Buffer.from([9, 8, 7]).toString('base64'),
        userProp: [new $Iot.PubRequestUserProp({ key: 'trace', value: 't-1' })],
      }),
    );
    expect(res.body.success).toBe(true);
    const m = await got;
    expect(m.packet.properties?.responseTopic).toBe(`/${PK}/gw-005/user/resp`);
    expect(Buffer.from(m.packet.properties?.correlationData ?? [])).toEqual(Buffer.from([9, 8, 7]));
    expect(m.packet.properties?.userProperties).toEqual({ trace: 't-1' });
  });
});

describe('managed MQTT 5 broker: presence', () => {
  it('is ONLINE while connected; RRpc is OFFLINE (MessageId 0) right after a DISCONNECT', async () => {
    const d = await device({ deviceName: 'gw-006' });
    expect(await status('gw-006')).toBe('ONLINE');
    const off = new Promise<{ graceful: boolean }>((r) => s.sim.once('deviceOffline', r));
    await d.endAsync();
    expect((await off).graceful).toBe(true);
    expect(await status('gw-006')).toBe('OFFLINE');
    expect((await rrpc('gw-006')).body).toMatchObject({ rrpcCode: 'OFFLINE', messageId: 0 });
  });

  it('answers HALFCONN right after the TCP connection dropped without DISCONNECT', async () => {
    const d = await device({ deviceName: 'gw-007' });
    const off = new Promise<{ graceful: boolean }>((r) => s.sim.once('deviceOffline', r));
    (d as unknown as { stream: { destroy(): void } }).stream.destroy();
    expect((await off).graceful).toBe(false);
    expect((await rrpc('gw-007')).body).toMatchObject({ rrpcCode: 'HALFCONN', messageId: 0 });
  });

  it('kicks the older connection on a second login of the same device; the device stays ONLINE', async () => {
    const first = await device({ deviceName: 'gw-008', clientId: 'first' });
    const firstClosed = closed(first, 3000);
    const second = await device({ deviceName: 'gw-008', clientId: 'second' });
    await firstClosed;
    await sleep(200);
    expect(second.connected).toBe(true);
    expect(await status('gw-008')).toBe('ONLINE');
    second.on('message', (topic, payload) => {
      if (topic.includes('/rrpc/request/')) second.publish(topic.replace('/request/', '/response/'), `ok:${payload.toString()}`);
    });
    await second.subscribeAsync(`/sys/${PK}/gw-008/rrpc/request/+`);
    expect((await rrpc('gw-008', 2000)).body).toMatchObject({ rrpcCode: 'SUCCESS' });
  });
});

describe('managed MQTT 5 broker: restart', () => {
  it('keeps a clean=false session across restartBroker(): a device that does not subscribe again still gets a set', async () => {
    // MQTT 3.1.1 clean=false, as the official Node SDK connects: the session never expires.
    const d = await connectDevice(s.mqttUrl, { deviceName: 'gw-001', clean: false, reconnectPeriod: 200 });
    open.push(d);
    await d.subscribeAsync(`/sys/${PK}/gw-001/thing/service/property/set`, { qos: 1 });
    (d.options as { resubscribe?: boolean }).resubscribe = false;
    await s.sim.restartBroker(100);
    for (let i = 0; i < 100 && !d.connected; i++) await sleep(50);
    for (let i = 0; i < 100 && (await status('gw-001')) !== 'ONLINE'; i++) await sleep(50);
    const got = nextMessage(d, (t) => t.endsWith('/property/set'), 5000);
    await api().setDeviceProperty(new $Iot.SetDevicePropertyRequest({ productKey: PK, deviceName: 'gw-001', items: JSON.stringify({ WorkMode: 1 }) }));
    expect(JSON.parse((await got).payload.toString())).toMatchObject({ params: { WorkMode: 1 } });
  });
});
