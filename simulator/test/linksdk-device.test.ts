/**
 * A device that behaves as LinkSDK 4.x does (docs/protocol/sdk-compat.md): clientId with `_ss=1` and `ext=3`,
 * upper-case hex password, clean session, never a SUBSCRIBE for its system topics, QoS 0 replies, sync services
 * answered on the `/ext/rrpc` topic they came on, batch posts and bare event params. Every cloud action, made
 * through the official cloud SDK, must reach it, on each broker mode.
 */
import * as $Iot from '@alicloud/iot20180120';
import { connectAsync, type MqttClient } from 'mqtt';
import { otaTopics, OTA_NOTICE_CODE } from '../../thing-model/wire';
import { createIotClient, longCallRuntime } from '../sdk-client';
import { BROKER_MODES, connectDevice, modeConfig, nextMessage, PK, startSim, testConfig } from './harness';

const DN = 'gw-001';
const sys = `/sys/${PK}/${DN}`;
const gw = { productKey: PK, deviceName: DN };
const SVC = { username: 'ota-svc', password: 'ota-svc-password' };

/** Connects as LinkSDK does and answers what the platform sends, on the topics LinkSDK uses. */
async function linkSdkDevice(mqttUrl: string): Promise<MqttClient> {
  const c = await connectDevice(mqttUrl, { deviceName: DN, upperCaseHex: true, clean: true, extra: { _ss: '1', ext: '3', _v: 'sdk-c-4.1.0' } });
  c.on('message', (topic, payload) => {
    const text = payload.toString();
    const req = text.startsWith('{') ? (JSON.parse(text) as { id: string; params: unknown; method?: string }) : undefined;
    if (topic === `${sys}/thing/service/property/set`) c.publish(`${topic}_reply`, JSON.stringify({ id: req!.id, code: 200, data: {} }), { qos: 0 });
    else if (topic.startsWith(`${sys}/thing/service/`) && !topic.endsWith('_reply')) c.publish(`${topic}_reply`, JSON.stringify({ id: req!.id, code: 200, data: {} }), { qos: 0 });
    else if (topic.startsWith('/ext/rrpc/') && topic.includes('/thing/service/')) c.publish(topic, JSON.stringify({ id: req!.id, code: 200, data: { Success: 1, Offset: 0.5, CalibratedAt: '1700000000000', Message: 'ok' } }), { qos: 0 });
    else if (topic.startsWith(`${sys}/rrpc/request/`)) c.publish(topic.replace('/request/', '/response/'), `raw:${text}`, { qos: 0 });
    else if (topic.startsWith('/ext/rrpc/') && topic.endsWith('/user/get')) c.publish(topic, `ext:${text}`, { qos: 0 });
  });
  return c;
}

describe.each(BROKER_MODES)('a LinkSDK-like device (%s broker)', (mode) => {
  let s: Awaited<ReturnType<typeof startSim>>;
  let dev: MqttClient;
  const api = () => createIotClient(s.httpUrl);

  beforeAll(async () => {
    // Two subscriptions allowed: the device's own two custom-topic filters; the platform's do not count.
    // A service client stands in for the platform's OTA service where a test needs to publish on OTA topics.
    const mqtt = { ...modeConfig(mode).mqtt, maxSubscriptions: 2, serviceClients: [SVC] };
    s = await startSim(testConfig({ mqtt, limits: { syncServiceTimeoutMs: 3000 } }));
    dev = await linkSdkDevice(s.mqttUrl);
  });
  afterAll(async () => {
    await dev?.endAsync(true);
    await s?.sim.stop();
  });

  it('gets SetDeviceProperty without having subscribed, and its QoS 0 set_reply is recorded', async () => {
    const res = await api().setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...gw, items: JSON.stringify({ ReportInterval: 30 }) }));
    expect(res.body.success).toBe(true);
    const r = await s.sim.waitForDeviceReply(gw, (x) => x.kind === 'propertySetReply' && x.id === res.body.data?.messageId);
    expect(r.code).toBe(200);
  });

  it('gets an async service and a sync service (over /ext/rrpc, answered on the same topic)', async () => {
    const a = await api().invokeThingService(new $Iot.InvokeThingServiceRequest({ ...gw, identifier: 'Reboot', args: JSON.stringify({ DelaySeconds: 1 }) }));
    expect(a.body.success).toBe(true);
    await s.sim.waitForDeviceReply(gw, (x) => x.kind === 'serviceReply' && x.id === a.body.data?.messageId);
    const seen = nextMessage(dev, (t) => t.startsWith('/ext/rrpc/'));
    const sync = await api().invokeThingServiceWithOptions(
      new $Iot.InvokeThingServiceRequest({ ...gw, identifier: 'Calibrate', args: JSON.stringify({ Sensor: 1, ReferenceValue: 20, SettleSeconds: 1 }) }),
      longCallRuntime(),
    );
    expect(sync.body).toMatchObject({ success: true });
    expect(JSON.parse(sync.body.data?.result ?? '{}')).toMatchObject({ Success: 1, Message: 'ok' });
    expect((await seen).topic).toMatch(new RegExp(`^/ext/rrpc/\\d+${sys}/thing/service/Calibrate$`));
  });

  it('gets a raw RRpc on /rrpc/request and its answer comes back', async () => {
    const res = await api().rRpcWithOptions(new $Iot.RRpcRequest({ ...gw, requestBase64Byte: Buffer.from('ping').toString('base64'), timeout: 3000 }), longCallRuntime());
    expect(res.body.rrpcCode).toBe('SUCCESS');
    expect(Buffer.from(res.body.payloadBase64Byte ?? '', 'base64').toString()).toBe('raw:ping');
  });

  it('gets SetDevicesProperty and InvokeThingsService (the batch APIs) as well', async () => {
    const sets = await api().setDevicesProperty(new $Iot.SetDevicesPropertyRequest({ productKey: PK, deviceName: [DN], items: JSON.stringify({ AlarmEnable: 1 }) }));
    expect(sets.body.success).toBe(true);
    await s.sim.waitForDeviceReply(gw, (x) => x.kind === 'propertySetReply' && x.receivedAt >= Date.now() - 2000);
    const got = nextMessage(dev, (t) => t === `${sys}/thing/service/ExportLogs`);
    const many = await api().invokeThingsService(new $Iot.InvokeThingsServiceRequest({ productKey: PK, deviceName: [DN], identifier: 'ExportLogs', args: JSON.stringify({ From: '1', To: '2', MinLevel: 1 }) }));
    expect(many.body.success).toBe(true);
    expect(JSON.parse((await got).payload.toString())).toMatchObject({ method: 'thing.service.ExportLogs' });
  });

  it('gets Pub and custom-topic RRpc on the custom topics it subscribed itself, as LinkSDK apps do; NTP without subscribing', async () => {
    await dev.subscribeAsync([`/${PK}/${DN}/user/get`, `/ext/rrpc/+/${PK}/${DN}/user/get`], { qos: 0 });
    const pubbed = nextMessage(dev, (t) => t === `/${PK}/${DN}/user/get`);
    await api().pub(new $Iot.PubRequest({ productKey: PK, topicFullName: `/${PK}/${DN}/user/get`, messageContent: Buffer.from('hi').toString('base64'), qos: 0 }));
    expect((await pubbed).payload.toString()).toBe('hi');
    const res = await api().rRpcWithOptions(new $Iot.RRpcRequest({ ...gw, requestBase64Byte: Buffer.from('q').toString('base64'), timeout: 3000, topic: `/${PK}/${DN}/user/get` }), longCallRuntime());
    expect(res.body.rrpcCode).toBe('SUCCESS');
    expect(Buffer.from(res.body.payloadBase64Byte ?? '', 'base64').toString()).toBe('ext:q');
    const ntp = nextMessage(dev, (t) => t === `/ext/ntp/${PK}/${DN}/response`);
    dev.publish(`/ext/ntp/${PK}/${DN}/request`, JSON.stringify({ deviceSendTime: '1700000000000' }), { qos: 0 });
    expect(JSON.parse((await ntp).payload.toString())).toMatchObject({ deviceSendTime: '1700000000000' });
    await dev.unsubscribeAsync([`/${PK}/${DN}/user/get`, `/ext/rrpc/+/${PK}/${DN}/user/get`]);
  });

  it('gets its batch post answered (no method in the request) and the values and events stored', async () => {
    const reply = nextMessage(dev, (t) => t === `${sys}/thing/event/property/batch/post_reply`);
    const t0 = Date.now() - 5000;
    dev.publish(`${sys}/thing/event/property/batch/post`, JSON.stringify({
      id: '77',
      version: '1.0',
      params: {
        properties: { Temperature: [{ value: 20.5, time: t0 }, { value: 21.5, time: t0 + 1000 }], PM25: [{ value: 9, time: t0 }] },
        events: { HighTemperature: [{ value: { Temperature: 41.5, Threshold: 40, SensorId: 'ch3' }, time: t0 + 500 }] },
      },
    }), { qos: 0 });
    expect(JSON.parse((await reply).payload.toString())).toMatchObject({ id: '77', code: 200, method: 'thing.event.property.batch.post' });
    const props = await api().queryDevicePropertyStatus(new $Iot.QueryDevicePropertyStatusRequest(gw));
    const temp = props.body.data?.list?.propertyStatusInfo?.find((p) => p.identifier === 'Temperature');
    expect(temp).toMatchObject({ value: '21.5', time: String(t0 + 1000) });
    const ev = await api().queryDeviceEventData(new $Iot.QueryDeviceEventDataRequest({ ...gw, identifier: 'HighTemperature', startTime: t0, endTime: Date.now() + 1000 }));
    expect(ev.body.data?.list?.eventInfo?.some((e) => e.outputData?.includes('"SensorId":"ch3"'))).toBe(true);
  });

  it('gets one reply, not two, on a topic it also subscribed itself (its demo subscribes batch/post_reply)', async () => {
    const replyTopic = `${sys}/thing/event/property/batch/post_reply`;
    await dev.subscribeAsync(replyTopic, { qos: 0 });
    const got: string[] = [];
    const on = (t: string) => t === replyTopic && got.push(t);
    dev.on('message', on);
    dev.publish(`${sys}/thing/event/property/batch/post`, JSON.stringify({ id: '79', version: '1.0', params: { properties: { PM25: [{ value: 3, time: Date.now() }] } } }));
    await new Promise((r) => setTimeout(r, 400));
    dev.off('message', on);
    expect(got).toEqual([replyTopic]);
    await dev.unsubscribeAsync(replyTopic);
  });

  it('has its bare event params accepted (the SDK demos send the output members directly)', async () => {
    const reply = nextMessage(dev, (t) => t === `${sys}/thing/event/SensorFault/post_reply`);
    dev.publish(`${sys}/thing/event/SensorFault/post`, JSON.stringify({ id: '78', version: '1.0', params: { ErrorCode: 1, ChannelId: 2, Detail: 'open', OccurredAt: String(Date.now()) } }));
    expect(JSON.parse((await reply).payload.toString())).toMatchObject({ id: '78', code: 200 });
  });

  it('gets OTA upgrade notices and firmware/get replies without subscribing, once even where it subscribed; its OTA publishes reach the platform', async () => {
    const ota = otaTopics(gw);
    const svc = await connectAsync(s.mqttUrl, { ...SVC, clientId: `ota-svc-${mode}`, reconnectPeriod: 0, connectTimeout: 5000 });
    try {
      await svc.subscribeAsync([`/ota/device/+/${PK}/${DN}`, ota.firmwareGet], { qos: 1 });
      const seen: string[] = [];
      const count = (t: string) => seen.push(t);
      dev.on('message', count);
      const notice = nextMessage(dev, (t) => t === ota.upgrade);
      const body = { code: OTA_NOTICE_CODE, id: 1626969597470, message: 'success', data: { version: '2.0.0', size: 3, url: 'http://127.0.0.1/x', signMethod: 'Md5', sign: 'ab', md5: 'ab' } };
      await svc.publishAsync(ota.upgrade, JSON.stringify(body), { qos: 1 });
      expect(JSON.parse((await notice).payload.toString())).toMatchObject({ code: '1000', data: { version: '2.0.0' } });

      // The device's own pull and the platform's answer on the /sys reply topic.
      const pulled = nextMessage(svc, (t) => t === ota.firmwareGet);
      const answered = nextMessage(dev, (t) => t === ota.firmwareGetReply);
      dev.publish(ota.firmwareGet, JSON.stringify({ id: '80', version: '1.0', params: { module: 'MCU' }, method: 'thing.ota.firmware.get' }), { qos: 0 });
      expect(JSON.parse((await pulled).payload.toString())).toMatchObject({ id: '80' });
      await svc.publishAsync(ota.firmwareGetReply, JSON.stringify({ id: '80', code: 200, data: {} }), { qos: 1 });
      expect(JSON.parse((await answered).payload.toString())).toMatchObject({ id: '80', code: 200 });

      // Inform and progress (numeric ids, as the C SDKs send them) arrive at the platform side.
      for (const [t, p] of [[ota.inform, { version: '2.0.0', module: 'MCU' }], [ota.progress, { step: '50', desc: '', module: 'MCU' }]] as const) {
        const got = nextMessage(svc, (x) => x === t);
        await dev.publishAsync(t, JSON.stringify({ id: 81, params: p }), { qos: 1 });
        expect(JSON.parse((await got).payload.toString())).toMatchObject({ id: 81, params: p });
      }

      // LinkSDK's OTA component subscribes the upgrade topic itself as well: still one delivery.
      await dev.subscribeAsync(ota.upgrade, { qos: 1 });
      seen.length = 0;
      await svc.publishAsync(ota.upgrade, JSON.stringify({ ...body, id: 1626969597471 }), { qos: 1 });
      await new Promise((r) => setTimeout(r, 400));
      expect(seen.filter((t) => t === ota.upgrade)).toEqual([ota.upgrade]);
      dev.off('message', count);
      await dev.unsubscribeAsync(ota.upgrade);
    } finally {
      await svc.endAsync(true);
    }
  });

  it('is subscribed again on every CONNECT (clean session): a set after a reconnect still arrives', async () => {
    await dev.endAsync();
    dev = await linkSdkDevice(s.mqttUrl);
    const got = nextMessage(dev, (t) => t === `${sys}/thing/service/property/set`);
    await api().setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...gw, items: JSON.stringify({ WorkMode: 2 }) }));
    expect(JSON.parse((await got).payload.toString())).toMatchObject({ params: { WorkMode: 2 } });
  });

  it('a device without _ss=1 gets nothing it did not subscribe to', async () => {
    const plain = await connectDevice(s.mqttUrl, { deviceName: 'gw-002' });
    const got: string[] = [];
    plain.on('message', (t) => got.push(t));
    await api().setDeviceProperty(new $Iot.SetDevicePropertyRequest({ productKey: PK, deviceName: 'gw-002', items: JSON.stringify({ WorkMode: 1 }) }));
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toEqual([]);
    await plain.endAsync();
  });
});
