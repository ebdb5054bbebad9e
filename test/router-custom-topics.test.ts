/**
 * Custom topics through real brokers: QoS 0 and 1 delivery, wildcard claims, MQTT 5 request/response
 * (Response Topic + Correlation Data + user properties) on mosquitto, and the MQTT 3.1.1 case on aedes.
 */
import { definePlugin, HandlerError, type CustomMessage } from '../handlers/api';
import { sleep, startHarness, USER, type Harness } from './router-harness';

function customPlugin(got: CustomMessage[]) {
  return definePlugin({
    name: 'custom',
    setup: () => ({
      customTopics: {
        echo: (msg) => {
          got.push(msg);
          return { payload: Buffer.concat([Buffer.from('echo:'), msg.payload]), userProperties: { handled: 'yes', seq: String(got.length) }, contentType: 'text/plain' };
        },
        'telemetry/+': { qos: 0, handler: (msg) => void got.push(msg) },
        'cmd/#': (msg) => {
          got.push(msg);
          if (msg.payload.toString() === 'boom') throw new HandlerError('actuator offline', 100321);
          return { payload: `done:${msg.suffix}`, qos: 1 };
        },
      },
    }),
  });
}

describe('custom topics on mosquitto (MQTT 5)', () => {
  let h: Harness;
  const got: CustomMessage[] = [];

  beforeAll(async () => {
    h = await startHarness({ broker: 'mosquitto', plugins: [{ module: 'custom', plugin: customPlugin(got) }] });
  });
  afterAll(() => h.close());
  beforeEach(() => {
    got.length = 0;
  });

  it('subscribes each claim at its QoS', () => {
    const subs = h.router.subscriptions();
    expect(subs).toEqual(
      expect.arrayContaining([
        { topic: `${USER}echo`, qos: 1 },
        { topic: `${USER}telemetry/+`, qos: 0 },
        { topic: `${USER}cmd/#`, qos: 1 },
      ]),
    );
  });

  it('answers on the Response Topic with the same Correlation Data and the handler user properties', async () => {
    const correlationData = Buffer.from([0xca, 0xfe, 0x00, 0x01]);
    await h.send(`${USER}echo`, 'ping', {
      qos: 1,
      properties: { responseTopic: `${USER}echo/response`, correlationData, userProperties: { from: 'cloud' } },
    });
    const reply = await h.next((m) => m.topic === `${USER}echo/response`);
    expect(reply.payload.toString()).toBe('echo:ping');
    expect(reply.properties?.correlationData).toEqual(correlationData);
    expect(reply.properties?.userProperties).toEqual({ handled: 'yes', seq: '1' });
    expect(reply.properties?.contentType).toBe('text/plain');
    expect(reply.qos).toBe(1);
    expect(got[0]).toMatchObject({ topic: `${USER}echo`, suffix: 'echo', qos: 1, responseTopic: `${USER}echo/response`, userProperties: { from: 'cloud' } });
    expect(got[0]?.correlationData).toEqual(correlationData);
  });

  it('delivers QoS 0 and QoS 1 messages, wildcards included', async () => {
    await h.send(`${USER}telemetry/ch1`, 'a', { qos: 0 });
    await h.send(`${USER}cmd/fan/speed`, 'b', { qos: 1 });
    await sleep(100);
    expect(got.map((m) => [m.suffix, m.payload.toString(), m.qos])).toEqual([
      ['telemetry/ch1', 'a', 0],
      ['cmd/fan/speed', 'b', 1],
    ]);
  });

  it('a failing handler answers the Response Topic with its code', async () => {
    const correlationData = Buffer.from('req-7');
    await h.send(`${USER}cmd/valve`, 'boom', { qos: 1, properties: { responseTopic: `${USER}cmd-response`, correlationData } });
    const reply = await h.next((m) => m.topic === `${USER}cmd-response`);
    expect(reply.json).toEqual({ code: 100321, data: {}, message: 'actuator offline' });
    expect(reply.properties?.correlationData).toEqual(correlationData);
  });
});

describe('custom topics on aedes (MQTT 3.1.1)', () => {
  let h: Harness;
  const got: CustomMessage[] = [];

  beforeAll(async () => {
    h = await startHarness({ broker: 'aedes', plugins: [{ module: 'custom', plugin: customPlugin(got) }] });
  });
  afterAll(() => h.close());

  it('delivers without MQTT 5 properties and publishes no reply', async () => {
    await h.send(`${USER}echo`, 'hi', { qos: 1 });
    await h.send(`${USER}telemetry/x`, 'q0', { qos: 0 });
    await sleep(150);
    expect(got.map((m) => [m.suffix, m.payload.toString(), m.qos, m.responseTopic])).toEqual([
      ['echo', 'hi', 1, undefined],
      ['telemetry/x', 'q0', 0, undefined],
    ]);
    expect(h.uplink.sent).toEqual([]);
  });
});
