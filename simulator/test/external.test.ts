/**
 * External-broker mode: the simulator as the platform's MQTT 5 client on mosquitto (test/helpers/brokers.ts),
 * devices as raw MQTT 5 clients. Pub carries ResponseTopic, CorrelationData and user properties here.
 */
import * as $Iot from '@alicloud/iot20180120';
import { connectAsync, MqttClient } from 'mqtt';
import { RunningBroker, startMosquitto } from '../../test/helpers/brokers';
import { createIotClient, longCallRuntime } from '../sdk-client';
import { nextMessage, PK, startSim, testConfig } from './harness';

let mosquitto: RunningBroker;
let s: Awaited<ReturnType<typeof startSim>>;
let dev: MqttClient;
const t = `/sys/${PK}/gw-001`;

beforeAll(async () => {
  mosquitto = await startMosquitto();
  s = await startSim(testConfig({ mqtt: { mode: 'external', url: mosquitto.url } }));
  dev = await connectAsync(mosquitto.url, { protocolVersion: 5, clientId: 'device-gw-001', reconnectPeriod: 0 });
  await dev.subscribeAsync({
    [`/${PK}/gw-001/user/#`]: { qos: 1 },
    [`${t}/rrpc/request/+`]: { qos: 0 },
    [`${t}/thing/service/property/set`]: { qos: 1 },
    [`${t}/thing/event/property/post_reply`]: { qos: 0 },
  });
  dev.on('message', (topic, payload) => {
    if (topic.includes('/rrpc/request/')) dev.publish(topic.replace('/request/', '/response/'), `pong:${payload.toString()}`);
  });
});

afterAll(async () => {
  await dev?.endAsync(true);
  await s?.sim.stop();
  await mosquitto?.stop();
});

describe('external MQTT 5 broker', () => {
  it('reports the external broker URL as the MQTT URL', () => {
    expect(s.mqttUrl).toBe(mosquitto.url);
  });

  it.each([undefined, 'v2' as const])('Pub delivers ResponseTopic, CorrelationData bytes and user properties (%s)', async (signatureAlgorithm) => {
    const got = nextMessage(dev, (x) => x === `/${PK}/gw-001/user/get`);
    const res = await createIotClient(s.httpUrl, { signatureAlgorithm }).pub(
      new $Iot.PubRequest({
        productKey: PK,
        topicFullName: `/${PK}/gw-001/user/get`,
        messageContent: Buffer.from('{"cmd":"on"}').toString('base64'),
        qos: 1,
        responseTopic: `/${PK}/gw-001/user/resp`,
        correlationData: Buffer.from([0, 1, 2, 255]).toString('base64'),
        userProp: [
          new $Iot.PubRequestUserProp({ key: 'k1', value: 'v1' }),
          new $Iot.PubRequestUserProp({ key: 'trace', value: 'abc 123' }),
          new $Iot.PubRequestUserProp({ key: 'k1', value: 'again' }),
        ],
      }),
    );
    expect(res.body).toMatchObject({ success: true, messageId: expect.any(String) });
    const m = await got;
    expect(m.payload.toString()).toBe('{"cmd":"on"}');
    expect(m.packet.qos).toBe(1);
    expect(m.packet.properties?.responseTopic).toBe(`/${PK}/gw-001/user/resp`);
    expect(Buffer.from(m.packet.properties?.correlationData ?? [])).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(m.packet.properties?.userProperties).toEqual({ k1: ['v1', 'again'], trace: 'abc 123' });
  });

  it('RRpc works over the external broker: SUCCESS from a device, TIMEOUT from a silent one', async () => {
    const client = createIotClient(s.httpUrl);
    const ok = await client.rRpcWithOptions(new $Iot.RRpcRequest({ productKey: PK, deviceName: 'gw-001', requestBase64Byte: Buffer.from('ping').toString('base64'), timeout: 2000 }), longCallRuntime());
    expect(ok.body).toMatchObject({ rrpcCode: 'SUCCESS' });
    expect(Buffer.from(ok.body.payloadBase64Byte ?? '', 'base64').toString()).toBe('pong:ping');
    const silent = await client.rRpcWithOptions(new $Iot.RRpcRequest({ productKey: PK, deviceName: 'gw-002', requestBase64Byte: 'AA==', timeout: 1000 }), longCallRuntime());
    expect(silent.body.rrpcCode).toBe('TIMEOUT');
  });

  it('answers property posts, infers presence from traffic, and delivers property sets', async () => {
    const client = createIotClient(s.httpUrl);
    expect((await client.getDeviceStatus(new $Iot.GetDeviceStatusRequest({ productKey: PK, deviceName: 'gw-003' }))).body.data?.status).toBe('UNACTIVE');
    const reply = nextMessage(dev, (x) => x.endsWith('/post_reply'));
    dev.publish(`${t}/thing/event/property/post`, JSON.stringify({ id: '42', version: '1.0', params: { PM25: 17 }, method: 'thing.event.property.post' }));
    expect(JSON.parse((await reply).payload.toString())).toMatchObject({ id: '42', code: 200 });
    expect((await client.getDeviceStatus(new $Iot.GetDeviceStatusRequest({ productKey: PK, deviceName: 'gw-001' }))).body.data?.status).toBe('ONLINE');
    const set = nextMessage(dev, (x) => x.endsWith('/property/set'));
    const res = await client.setDeviceProperty(new $Iot.SetDevicePropertyRequest({ productKey: PK, deviceName: 'gw-001', items: '{"WorkMode":2}' }));
    expect(JSON.parse((await set).payload.toString())).toMatchObject({ id: res.body.data?.messageId, params: { WorkMode: 2 } });
  });
});
