/**
 * End to end: the cloud simulator (embedded aedes, MQTT 3.1.1, Alink login checked), the agent, and the official
 * cloud SDK (`@alicloud/iot20180120`) as the cloud client.
 */
import * as $Iot from '@alicloud/iot20180120';
import { connectAsync, MqttClient } from 'mqtt';
import { Agent, AgentStateChange } from '../agent/agent';
import { ConfigError } from '../agent/config/errors';
import { createIotClient, longCallRuntime } from '../simulator/sdk-client';
import type { CloudSimulator } from '../simulator/cloud-simulator';
import { buildCredentials } from '../thing-model/wire';
import { waitFor } from './helpers/brokers';
import { DEVICE, sleep } from './agent-support';
import { ID, makeAgent, startSimulator, TestAgent, TSL_PATH } from './agent-e2e-support';

let sim: CloudSimulator;
let httpUrl: string;
let mqttUrl: string;
let iot: ReturnType<typeof createIotClient>;
let main: TestAgent;
const states: AgentStateChange[] = [];

beforeAll(async () => {
  ({ sim, httpUrl, mqttUrl } = await startSimulator());
  iot = createIotClient(httpUrl);
  // The backoff draw pinned near 1, so each delay is its ceiling and growth is visible.
  main = await makeAgent(mqttUrl, { broker: { url: mqttUrl, reconnect: { initialMs: 200, maxMs: 2000, stableMs: 1000 }, connectTimeoutMs: 3000 } }, { random: () => 0.999 });
  main.agent.on('state', (s) => states.push(s));
  const ready = new Promise<{ connected: boolean }>((r) => main.agent.once('ready', r));
  await main.agent.start();
  expect(await ready).toEqual({ connected: true });
});

afterAll(async () => {
  await main?.cleanup();
  await sim?.stop();
  expect(main.log.text()).not.toContain(DEVICE.secret);
});

const base = { productKey: ID.productKey, deviceName: ID.deviceName };

async function setProperty(items: Record<string, unknown>) {
  const res = await iot.setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...base, items: JSON.stringify(items) }));
  expect(res.body.success).toBe(true);
  const messageId = res.body.data?.messageId;
  return sim.waitForDeviceReply(ID, (r) => r.kind === 'propertySetReply' && r.id === messageId, 5000);
}

describe('SetDeviceProperty through the agent', () => {
  it('accepts valid values (200) and the property store keeps them', async () => {
    const reply = await setProperty({ ReportInterval: 60, WorkMode: 1, AlarmEnable: 1, TempAlarmThreshold: 30.5 });
    expect(reply.code).toBe(200);
  });

  it.each([
    ['read-only', { Temperature: 21.5 }, /Temperature/],
    ['out of range', { ReportInterval: 7200 }, /ReportInterval/],
    ['unknown', { FanSpeed: 3 }, /FanSpeed/],
  ])('refuses a %s property with 460 naming it', async (_what, items, named) => {
    const reply = await setProperty(items);
    expect(reply.code).toBe(460);
    expect(reply.message).toMatch(named);
  });
});

describe('services and RRPC through the agent', () => {
  it('answers an async service (Reboot) on its _reply topic', async () => {
    const res = await iot.invokeThingService(new $Iot.InvokeThingServiceRequest({ ...base, identifier: 'Reboot', args: JSON.stringify({ DelaySeconds: 5 }) }));
    expect(res.body.success).toBe(true);
    const reply = await sim.waitForDeviceReply(ID, (r) => r.kind === 'serviceReply' && r.id === res.body.data?.messageId, 5000);
    expect(reply.code).toBe(200);
    expect(main.calls.reboot).toContainEqual({ DelaySeconds: 5 });
  });

  it('answers a sync service (Calibrate) inside the call', async () => {
    const res = await iot.invokeThingServiceWithOptions(
      new $Iot.InvokeThingServiceRequest({ ...base, identifier: 'Calibrate', args: JSON.stringify({ Sensor: 1, ReferenceValue: 25.0, SettleSeconds: 1 }) }),
      longCallRuntime(),
    );
    expect(res.body.success).toBe(true);
    expect(JSON.parse(res.body.data?.result ?? '{}')).toMatchObject({ Success: 1, Offset: 0.5, Message: 'calibrated sensor 1' });
  });

  it('answers with the handler error code when a plugin throws, and keeps running', async () => {
    const coded = await iot.invokeThingService(
      new $Iot.InvokeThingServiceRequest({ ...base, identifier: 'ExportLogs', args: JSON.stringify({ From: '1700000000000', To: '1700000600000', MinLevel: 1 }) }),
    );
    const codedReply = await sim.waitForDeviceReply(ID, (r) => r.kind === 'serviceReply' && r.id === coded.body.data?.messageId, 5000);
    expect(codedReply.code).toBe(100_042);
    expect(codedReply.message).toContain('log store unavailable');
    const crash = await iot.invokeThingServiceWithOptions(
      new $Iot.InvokeThingServiceRequest({ ...base, identifier: 'ReadChannels', args: JSON.stringify({ Channels: [1, 2] }) }),
      longCallRuntime(),
    );
    expect(crash.body.success).toBe(false);
    expect(main.agent.state).toBe('connected');
    expect((await setProperty({ WorkMode: 2 })).code).toBe(200);
  });

  it('answers a raw RRpc: SUCCESS with the handler payload', async () => {
    const res = await iot.rRpcWithOptions(
      new $Iot.RRpcRequest({ ...base, requestBase64Byte: Buffer.from('ping').toString('base64'), timeout: 3000 }),
      longCallRuntime(),
    );
    expect(res.body.rrpcCode).toBe('SUCCESS');
    expect(Buffer.from(res.body.payloadBase64Byte ?? '', 'base64').toString()).toBe('pong:ping');
  });

  it('answers a slow RRpc with an error reply inside the budget instead of letting the caller see TIMEOUT', async () => {
    const started = Date.now();
    const res = await iot.rRpcWithOptions(
      new $Iot.RRpcRequest({ ...base, requestBase64Byte: Buffer.from('slow').toString('base64'), timeout: 3000 }),
      longCallRuntime(),
    );
    const took = Date.now() - started;
    expect(res.body.rrpcCode).toBe('SUCCESS');
    expect(took).toBeLessThan(2500); // the agent's budget is 1500 ms; the caller waits up to 3000
    expect(Buffer.from(res.body.payloadBase64Byte ?? '', 'base64').toString()).toMatch(/400|deadline/);
  });
});

describe('connection life', () => {
  it('reconnects after a broker restart and handles traffic again', async () => {
    const connectedBefore = states.filter((s) => s.state === 'connected').length;
    await sim.restartBroker(200);
    await waitFor(() => states.filter((s) => s.state === 'connected').length > connectedBefore, 8000, 'the reconnect');
    expect(states.some((s) => s.state === 'reconnecting' && s.cause === 'network')).toBe(true);
    expect((await setProperty({ ReportInterval: 120 })).code).toBe(200);
  });

  it('detects a duplicate login against the simulator, logs it once, backs off, and recovers when the twin leaves', async () => {
    const twinCreds = () => buildCredentials({ ...ID, deviceSecret: DEVICE.secret, signMethod: 'hmacsha1', secureMode: 3, timestamp: Date.now(), clientId: 'twin' });
    let twin: MqttClient | undefined;
    // Let the connection from the restart above become stable, so the backoff starts from its first step.
    await sleep(1100);
    try {
      twin = await connectAsync(mqttUrl, { ...twinCreds(), reconnectPeriod: 150 });
      twin.on('close', () => Object.assign(twin?.options ?? {}, twinCreds()));
      await waitFor(() => states.filter((s) => s.cause === 'kicked').length >= 3, 10_000, 'three kicks');
      const delays = states.filter((s) => s.cause === 'kicked').map((s) => s.retryInMs as number);
      for (let i = 1; i < delays.length; i++) expect(delays[i] as number).toBeGreaterThanOrEqual(delays[i - 1] as number);
      expect(delays[delays.length - 1] as number).toBeGreaterThan(delays[0] as number);
      const lines = main.log.lines().filter((l) => l.cause === 'kicked' && (l.level as number) >= 50);
      expect(lines).toHaveLength(1);
    } finally {
      await twin?.endAsync(true);
    }
    await waitFor(() => main.agent.state === 'connected', 8000, 'the agent to win its identity back');
    expect((await setProperty({ ReportInterval: 180 })).code).toBe(200);
  });
});

describe('agents as values', () => {
  it('connects with every sign method', async () => {
    for (const signMethod of ['hmacsha1', 'hmacmd5'] as const) {
      const t = await makeAgent(mqttUrl, { broker: { url: mqttUrl, signMethod } }, { deviceName: 'gw-002' });
      try {
        await t.agent.start();
        expect(t.agent.state).toBe('connected');
      } finally {
        await t.cleanup();
      }
    }
  });

  it('runs two agents in one process, each answering for its own device', async () => {
    const second = await makeAgent(mqttUrl, {}, { deviceName: 'gw-002' });
    try {
      await second.agent.start();
      const res = await iot.invokeThingService(new $Iot.InvokeThingServiceRequest({ productKey: ID.productKey, deviceName: 'gw-002', identifier: 'Reboot', args: JSON.stringify({ DelaySeconds: 7 }) }));
      await sim.waitForDeviceReply({ productKey: ID.productKey, deviceName: 'gw-002' }, (r) => r.id === res.body.data?.messageId, 5000);
      expect(second.calls.reboot).toEqual([{ DelaySeconds: 7 }]);
      expect(main.calls.reboot).not.toContainEqual({ DelaySeconds: 7 });
      expect((await setProperty({ WorkMode: 0 })).code).toBe(200);
    } finally {
      await second.cleanup();
    }
    expect(main.agent.state).toBe('connected');
  });

  it('boots offline: start resolves after the first failed attempt, the agent keeps reconnecting until stopped', async () => {
    const t = await makeAgent('mqtt://127.0.0.1:1', {}, { deviceName: 'gw-002' });
    try {
      const ready = new Promise<{ connected: boolean }>((r) => t.agent.once('ready', r));
      await t.agent.start();
      expect(await ready).toEqual({ connected: false });
      expect(t.agent.state).toBe('reconnecting');
    } finally {
      await t.cleanup();
    }
    expect(t.agent.state).toBe('stopped');
  });

  it('stops cleanly: an in-flight handler finishes and its reply goes out before the DISCONNECT', async () => {
    const t = await makeAgent(mqttUrl, {}, { deviceName: 'gw-002' });
    await t.agent.start();
    const res = await iot.invokeThingService(new $Iot.InvokeThingServiceRequest({ productKey: ID.productKey, deviceName: 'gw-002', identifier: 'Reboot', args: JSON.stringify({ DelaySeconds: 299 }) }));
    const id2 = { productKey: ID.productKey, deviceName: 'gw-002' };
    const offline = new Promise<{ graceful: boolean }>((r) => sim.on('deviceOffline', (d) => d.deviceName === 'gw-002' && r(d)));
    await waitFor(() => t.calls.rebootStarted.length === 1, 3000, 'the handler to start');
    await t.cleanup();
    expect(t.calls.reboot).toEqual([{ DelaySeconds: 299 }]);
    const reply = await sim.waitForDeviceReply(id2, (r) => r.id === res.body.data?.messageId, 1000);
    expect(reply.code).toBe(200);
    expect((await offline).graceful).toBe(true);
  });

  it('fails at create with one line for a bad config, a bad TSL, or bad plugin options', async () => {
    await expect(Agent.create({ device: { ...ID, secret: 'x' }, broker: { url: 'ftp://x' }, thingModel: { path: TSL_PATH } })).rejects.toThrow(
      new ConfigError('config', 'broker.url', 'an mqtt:// or mqtts:// URL such as "mqtt://127.0.0.1:1883"', '"ftp://x"'),
    );
    const badTsl = Agent.create({ device: { ...ID, secret: 'x' }, broker: { url: mqttUrl }, thingModel: { path: '/nonexistent/tsl.json' } });
    await expect(badTsl).rejects.toMatchObject({ name: 'TslError' });
    const badPlugin = Agent.create({
      device: { ...ID, secret: 'x' },
      broker: { url: mqttUrl },
      thingModel: { path: TSL_PATH },
      handlers: [{ module: 'system-info', options: { map: { noSuchFact: 'Temperature' } } }],
    });
    await expect(badPlugin).rejects.toMatchObject({ name: 'PluginError' });
  });
});
