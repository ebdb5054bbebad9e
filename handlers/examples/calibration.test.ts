/**
 * The example plugin, loaded by module path as an agent configuration would, driven through mosquitto
 * (MQTT 5) by a raw MQTT.js client acting as the cloud.
 */
import { sleep, startHarness, SYS, USER, type Harness } from '../../test/router-harness';

describe('example plugin: calibration', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({
      broker: 'mosquitto',
      configDir: __dirname,
      plugins: [{ module: './calibration', options: { msPerSecond: 20, readings: { temperature: 21.5, humidity: 40, pm25: 10 } } }],
      rrpc: { budgetMs: 1000 },
    });
  });
  afterAll(() => h.close());

  it('loads by module path and claims what it declares', () => {
    expect(h.plugins.names).toEqual(['calibration', 'property-store']);
    expect([...h.plugins.registry.services.keys()].sort()).toEqual(['Calibrate', 'Reboot']);
  });

  it('calibrates over RRPC and posts LastCalibrationTime', async () => {
    await h.send(`${SYS}/rrpc/request/100`, { id: '1', version: '1.0', params: { Sensor: 0, ReferenceValue: 22.75, SettleSeconds: 2 }, method: 'thing.service.Calibrate' }, { qos: 0 });
    const reply = await h.next((m) => m.topic === `${SYS}/rrpc/response/100`);
    expect(reply.json).toMatchObject({ id: '1', code: 200, data: { Success: 1, Offset: 1.25, Message: 'temperature offset set to 1.25' } });
    const post = await h.next((m) => m.topic === `${SYS}/thing/event/property/post`);
    expect(post.json?.params).toEqual({ LastCalibrationTime: (reply.json?.data as { CalibratedAt: string }).CalibratedAt });
  });

  it('reports an implausible reference as Success 0', async () => {
    await h.send(`${SYS}/rrpc/request/101`, { id: '2', version: '1.0', params: { Sensor: 2, ReferenceValue: 900, SettleSeconds: 0 }, method: 'thing.service.Calibrate' }, { qos: 0 });
    const reply = await h.next((m) => m.topic === `${SYS}/rrpc/response/101`);
    expect(reply.payload.toString()).toContain('"Success":0,"Offset":0.0');
  });

  it('reboots asynchronously, refuses a second reboot with 429, then posts BootCompleted', async () => {
    await h.send(`${SYS}/thing/service/Reboot`, { id: '3', version: '1.0', params: { DelaySeconds: 5 } });
    expect((await h.next((m) => m.topic === `${SYS}/thing/service/Reboot_reply` && m.json?.id === '3')).json).toMatchObject({ code: 200 });
    await h.send(`${SYS}/thing/service/Reboot`, { id: '4', version: '1.0', params: { DelaySeconds: 5 } });
    expect((await h.next((m) => m.topic === `${SYS}/thing/service/Reboot_reply` && m.json?.id === '4')).json).toMatchObject({ code: 429, message: 'a reboot is already scheduled' });
    const ev = await h.next((m) => m.topic === `${SYS}/thing/event/BootCompleted/post`, 2000);
    // The agent stamps every event with its NTP-corrected time.
    expect(ev.json?.params).toEqual({ value: { Reason: 2, FirmwareVersion: '1.0.0' }, time: expect.any(Number) });
  });

  it('echoes custom-topic requests on their Response Topic', async () => {
    const correlationData = Buffer.from('c-1');
    await h.send(`${USER}echo`, 'hello', { qos: 1, properties: { responseTopic: `${USER}echo/r`, correlationData } });
    const r = await h.next((m) => m.topic === `${USER}echo/r`);
    expect(r.payload.toString()).toBe('hello');
    expect(r.properties?.correlationData).toEqual(correlationData);
    expect(r.properties?.userProperties).toEqual({ echoed: 'true' });
  });

  it('answers custom-topic RRPC pings', async () => {
    const t = `/ext/rrpc/555${USER}rpc/ping`;
    await h.send(t, 'x', { qos: 0 });
    expect((await h.next((m) => m.topic === t && m.payload.toString() !== 'x')).payload.toString()).toBe('pong:x');
    await sleep(50);
  });
});
