/**
 * Health and metrics of a running agent (in process, `health.enabled`), against the cloud simulator and the
 * official cloud SDK: /healthz follows the session (200 connected, 503 with the reason when the broker is gone),
 * /metrics counts messages in and out by kind, rejections by code, reconnects, and the outbox depth.
 */
import * as $Iot from '@alicloud/iot20180120';
import { createIotClient } from '../simulator/sdk-client';
import type { CloudSimulator } from '../simulator/cloud-simulator';
import { waitFor } from './helpers/brokers';
import { DEVICE } from './agent-support';
import { ID, makeAgent, startSimulator, type TestAgent } from './agent-e2e-support';

let sim: CloudSimulator;
let iot: ReturnType<typeof createIotClient>;
let t: TestAgent;
let base: string;

beforeAll(async () => {
  let mqttUrl: string;
  let httpUrl: string;
  ({ sim, httpUrl, mqttUrl } = await startSimulator());
  iot = createIotClient(httpUrl);
  t = await makeAgent(mqttUrl, { health: { enabled: true, port: 0 }, upstream: { replyTimeoutMs: 30_000 } });
  await t.agent.start();
  const address = t.agent.healthAddress;
  if (!address) throw new Error('the health listener did not start');
  base = address.url;
});

afterAll(async () => {
  await t?.cleanup();
  await sim?.stop();
});

async function healthz(): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}/healthz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The value of one series in /metrics, e.g. `alink_agent_messages_in_total{kind="property_set"}`; 0 when absent. */
async function metric(series: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

async function setProperty(items: Record<string, unknown>): Promise<number | undefined> {
  const res = await iot.setDeviceProperty(new $Iot.SetDevicePropertyRequest({ productKey: ID.productKey, deviceName: ID.deviceName, items: JSON.stringify(items) }));
  expect(res.body.success).toBe(true);
  const messageId = res.body.data?.messageId;
  return (await sim.waitForDeviceReply(ID, (r) => r.kind === 'propertySetReply' && r.id === messageId, 5000)).code;
}

describe('the health endpoint of a running agent', () => {
  it('listens on 127.0.0.1 and answers /healthz 200 while connected', async () => {
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const h = await healthz();
    expect(h).toMatchObject({ status: 200, body: { status: 'ok', state: 'connected', outboxPending: 0 } });
    expect(await metric('alink_agent_connection_state{state="connected"}')).toBe(1);
  });

  it('counts a property set from the cloud in, its reply out, and a bad set as a rejection by code', async () => {
    expect(await setProperty({ ReportInterval: 60 })).toBe(200);
    await waitFor(async () => (await metric('alink_agent_messages_out_total{kind="reply"}')) >= 1, 5000, 'the reply counted out');
    // The agent reports what it applied with a property post of its own.
    await waitFor(async () => (await metric('alink_agent_messages_out_total{kind="property_post"}')) >= 1, 5000, 'the echo post counted out');
    expect(await metric('alink_agent_messages_in_total{kind="property_set"}')).toBe(1);
    expect(await metric('alink_agent_rejections_total{code="460"}')).toBe(0);

    expect(await setProperty({ ReportInterval: 7200 })).toBe(460);
    expect(await metric('alink_agent_messages_in_total{kind="property_set"}')).toBe(2);
    expect(await metric('alink_agent_rejections_total{code="460"}')).toBe(1);
    await waitFor(async () => (await metric('alink_agent_messages_out_total{kind="reply"}')) >= 2, 5000, 'both replies counted out');
    expect(await metric('alink_agent_handler_duration_seconds_count{kind="property_set"}')).toBe(2);
  });

  it('answers 503 with the reason when the broker is gone, shows the outbox filling, and recovers', async () => {
    const reconnectsBefore = await metric('alink_agent_reconnects_total');
    // The accepted set above was echoed as a property post (the agent reports what it applied): count from here.
    const postsBefore = await metric('alink_agent_messages_out_total{kind="property_post"}');
    const repliesBefore = await metric('alink_agent_messages_in_total{kind="reply"}');
    await sim.stop();
    const down = await waitFor(async () => {
      const h = await healthz();
      return h.status === 503 ? h : undefined;
    }, 5000, '/healthz to answer 503');
    expect(down.body.status).toBe('unhealthy');
    expect(down.body.state).toBe('reconnecting');
    expect(String(down.body.reason)).toMatch(/^disconnected since \d{4}-\d\d-\d\dT.*Z: /);
    expect(await metric('alink_agent_connection_state{state="reconnecting"}')).toBe(1);
    expect(await metric('alink_agent_reconnects_total')).toBeGreaterThan(reconnectsBefore);

    // Five posts while offline wait in the outbox; the depth gauge shows them within its refresh period.
    const posts = Array.from({ length: 5 }, (_, i) => t.agent.router.upstream.postProperties({ PM25: 100 + i }));
    await waitFor(async () => (await metric('alink_agent_outbox_rows')) === 5, 5000, 'outbox_rows 5');
    expect(await metric('alink_agent_outbox_bytes')).toBeGreaterThan(0);
    expect((await healthz()).body.outboxPending).toBe(5);

    await sim.start();
    const replies = await Promise.all(posts);
    expect(replies.map((r) => r.code)).toEqual([200, 200, 200, 200, 200]);
    await waitFor(async () => (await healthz()).status === 200, 10_000, '/healthz 200 again');
    await waitFor(async () => (await metric('alink_agent_outbox_rows')) === 0, 5000, 'outbox_rows 0');
    expect(await metric('alink_agent_messages_out_total{kind="property_post"}')).toBe(postsBefore + 5);
    expect(await metric('alink_agent_messages_in_total{kind="reply"}')).toBe(repliesBefore + 5);
  }, 30_000);

  it('keeps the device secret out of the log', () => {
    expect(t.log.text()).not.toContain(DEVICE.secret);
  });
});
