/**
 * End to end over MQTT 5: mosquitto (child process), the simulator as the platform's client on it (external
 * mode), the agent with protocolVersion 5, and the official cloud SDK.
 */
import * as $Iot from '@alicloud/iot20180120';
import { connectAsync, MqttClient } from 'mqtt';
import type { AgentStateChange } from '../agent/agent';
import { createIotClient, longCallRuntime } from '../simulator/sdk-client';
import type { CloudSimulator } from '../simulator/cloud-simulator';
import { RunningBroker, startMosquitto, waitFor } from './helpers/brokers';
import { DEVICE } from './agent-support';
import { ID, makeAgent, startSimulator, TestAgent } from './agent-e2e-support';

let mosquitto: RunningBroker;
let sim: CloudSimulator;
let iot: ReturnType<typeof createIotClient>;
let t: TestAgent;
let cloud: MqttClient;
const states: AgentStateChange[] = [];
const base = { productKey: ID.productKey, deviceName: ID.deviceName };

beforeAll(async () => {
  mosquitto = await startMosquitto();
  let httpUrl: string;
  ({ sim, httpUrl } = await startSimulator({ mqtt: { mode: 'external', url: mosquitto.url } }));
  iot = createIotClient(httpUrl);
  t = await makeAgent(mosquitto.url, { broker: { url: mosquitto.url, protocolVersion: 5, reconnect: { initialMs: 200, maxMs: 2000 }, connectTimeoutMs: 3000 } });
  t.agent.on('state', (s) => states.push(s));
  await t.agent.start();
  cloud = await connectAsync(mosquitto.url, { protocolVersion: 5, clientId: 'e2e-response-watcher', reconnectPeriod: 0 });
  await cloud.subscribeAsync(`/${ID.productKey}/${ID.deviceName}/user/resp`, { qos: 1 });
});

afterAll(async () => {
  await cloud?.endAsync(true);
  await t?.cleanup();
  await sim?.stop();
  await mosquitto?.stop();
  expect(t.log.text()).not.toContain(DEVICE.secret);
});

function nextResponse(): Promise<{ payload: string; correlation?: Buffer }> {
  return new Promise((resolve) =>
    cloud.once('message', (_topic, payload, packet) => resolve({ payload: payload.toString(), correlation: packet.properties?.correlationData as Buffer | undefined })),
  );
}

async function pubWithResponse(text: string, correlation: Buffer) {
  const answer = nextResponse();
  const res = await iot.pub(
    new $Iot.PubRequest({
      productKey: ID.productKey,
      topicFullName: `/${ID.productKey}/${ID.deviceName}/user/get`,
      messageContent: Buffer.from(text).toString('base64'),
      qos: 1,
      responseTopic: `/${ID.productKey}/${ID.deviceName}/user/resp`,
      correlationData: correlation.toString('base64'),
    }),
  );
  expect(res.body.success).toBe(true);
  return answer;
}

describe('the agent over MQTT 5 (mosquitto)', () => {
  it('answers a Pub carrying a ResponseTopic on that topic with the same CorrelationData', async () => {
    const got = await pubWithResponse('status?', Buffer.from([0, 1, 2, 255]));
    expect(got.payload).toBe('answer:status?');
    expect(got.correlation).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(t.calls.custom).toContainEqual({ topic: `/${ID.productKey}/${ID.deviceName}/user/get`, payload: 'status?' });
  });

  it('answers SetDeviceProperty and a sync service', async () => {
    const set = await iot.setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...base, items: JSON.stringify({ DeviceAlias: 'north wing' }) }));
    const reply = await sim.waitForDeviceReply(ID, (r) => r.kind === 'propertySetReply' && r.id === set.body.data?.messageId, 5000);
    expect(reply.code).toBe(200);
    const cal = await iot.invokeThingServiceWithOptions(
      new $Iot.InvokeThingServiceRequest({ ...base, identifier: 'Calibrate', args: JSON.stringify({ Sensor: 2, ReferenceValue: 12.5, SettleSeconds: 0 }) }),
      longCallRuntime(),
    );
    expect(cal.body.success).toBe(true);
  });

  it('reconnects after mosquitto restarts (no session kept), resubscribes, and traffic resumes', async () => {
    const before = states.filter((s) => s.state === 'connected').length;
    await cloud.endAsync(true);
    await mosquitto.restart(200);
    await waitFor(() => states.filter((s) => s.state === 'connected').length > before, 10_000, 'the agent to reconnect');
    cloud = await connectAsync(mosquitto.url, { protocolVersion: 5, clientId: 'e2e-response-watcher', reconnectPeriod: 0 });
    await cloud.subscribeAsync(`/${ID.productKey}/${ID.deviceName}/user/resp`, { qos: 1 });
    // The simulator's own link to mosquitto reconnects on its own schedule; Pub is retried until it is back.
    let answered: string | undefined;
    for (let i = 0; i < 20 && answered === undefined; i++) {
      const got = await Promise.race([pubWithResponse(`after restart ${i}`, Buffer.from('c2')).catch(() => undefined), new Promise<undefined>((r) => setTimeout(() => r(undefined), 500))]);
      answered = got?.payload;
    }
    expect(answered).toMatch(/^answer:after restart \d+$/);
  });
});
