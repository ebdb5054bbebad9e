/**
 * History post (docs/protocol/history-post.md), end to end on both simulator brokers with a real agent and the
 * official cloud SDK: posts that wait in the outbox through an outage longer than `outbox.history.afterMs` reach
 * the platform as `thing.event.property.history.post` with the times they were taken; the `drop` policy drops and
 * counts them; the simulator refuses a malformed history post with its code and keeps batch and history values in
 * the property history (QueryDevicePropertyData).
 */
import * as $Iot from '@alicloud/iot20180120';
import mqtt from 'mqtt';
import { startTcpProxy, type TcpProxy } from '../agent/outbox/__fixtures__/tcp-proxy';
import { createIotClient } from '../simulator/sdk-client';
import type { CloudSimulator } from '../simulator/cloud-simulator';
import { buildCredentials } from '../thing-model/wire';
import { waitFor } from './helpers/brokers';
import { DEVICE } from './agent-support';
import { ID, makeAgent, startSimulator, type TestAgent } from './agent-e2e-support';

const AFTER_MS = 1500;

describe.each(['embedded', 'managed'] as const)('history post on the %s broker', (mode) => {
  let sim: CloudSimulator;
  let iot: ReturnType<typeof createIotClient>;
  let mqttUrl: string;
  let proxy: TcpProxy;
  const agents: TestAgent[] = [];
  const protocolVersion = mode === 'managed' ? 5 : 4;
  const histories: { deviceName: string; code: number; params: unknown }[] = [];

  beforeAll(async () => {
    let httpUrl: string;
    ({ sim, httpUrl, mqttUrl } = await startSimulator({ mqtt: { mode } }, 3));
    iot = createIotClient(httpUrl);
    proxy = await startTcpProxy(Number(new URL(mqttUrl).port));
    sim.on('historyPost', (h) => histories.push({ deviceName: h.deviceName, code: h.code, params: h.params }));
  });

  afterAll(async () => {
    for (const t of agents) await t.cleanup();
    await proxy?.close();
    await sim?.stop();
  });

  const agentFor = async (deviceName: string, policy: 'history' | 'drop') => {
    const t = await makeAgent(
      proxy.url,
      {
        broker: { url: proxy.url, protocolVersion, reconnect: { initialMs: 100, maxMs: 300, stableMs: 1000 }, connectTimeoutMs: 2000 },
        postAfterSet: { enabled: false },
        outbox: { history: { afterMs: AFTER_MS, policy } },
        health: { enabled: true, port: 0 },
      },
      { deviceName },
    );
    agents.push(t);
    await t.agent.start();
    return t;
  };

  const outage = async (t: TestAgent, post: () => void) => {
    proxy.cut();
    await waitFor(() => t.agent.state === 'reconnecting', 10_000, 'the agent to notice the outage');
    post();
    await new Promise((r) => setTimeout(r, AFTER_MS + 300));
    proxy.restore();
    await waitFor(() => t.agent.state === 'connected', 15_000, 'the agent to reconnect');
  };

  const CLOCK_SLACK_MS = 50;

  it('sends posts older than afterMs as history posts with their times; the platform stores them', async () => {
    const t = await agentFor('gw-001', 'history');
    const up = t.agent.router.upstream;
    const fresh = up.postProperties({ PM25: 5 });
    expect((await fresh).code).toBe(200);
    let prop!: ReturnType<typeof up.postProperties>;
    let ev!: ReturnType<typeof up.postEvent>;
    const before = Date.now();
    await outage(t, () => {
      prop = up.postProperties({ PM25: 77, Temperature: 21 }, { timeoutMs: 20_000 });
      ev = up.postEvent('HighTemperature', { Temperature: 80, Threshold: 70, SensorId: 's-1' }, { timeoutMs: 20_000 });
    });
    expect((await prop).code).toBe(200);
    expect((await ev).code).toBe(200);
    const mine = histories.filter((h) => h.deviceName === 'gw-001');
    expect(mine.length).toBe(2);
    expect(mine.every((h) => h.code === 200)).toBe(true);
    const [p] = mine[0]!.params as { identity: unknown; properties: Record<string, { value: unknown; time: number }>[] }[];
    expect(p!.identity).toEqual({ productKey: ID.productKey, deviceName: 'gw-001' });
    const pm = p!.properties.find((i) => 'PM25' in i)!.PM25!;
    expect(pm.value).toBe(77);
    // The time the value was taken, not the time it was finally sent. The agent stamps with its cloud-corrected
    // clock, whose offset from this process's clock is rounded to whole milliseconds (seen: 1 ms early).
    expect(pm.time).toBeGreaterThanOrEqual(before - CLOCK_SLACK_MS);
    expect(pm.time).toBeLessThan(Date.now() - AFTER_MS);

    const q = await iot.queryDevicePropertyData(new $Iot.QueryDevicePropertyDataRequest({ ...ID, identifier: 'PM25', startTime: before - 60_000, endTime: Date.now(), asc: 1, pageSize: 10 }));
    expect(q.body.success).toBe(true);
    expect((q.body.data?.list?.propertyInfo ?? []).map((i) => [i.value, Number(i.time)])).toEqual([['5', expect.any(Number)], ['77', pm.time]]);
    const events = await iot.queryDeviceEventData(new $Iot.QueryDeviceEventDataRequest({ ...ID, identifier: 'HighTemperature', startTime: before - CLOCK_SLACK_MS, endTime: Date.now(), pageSize: 10 }));
    expect(events.body.data?.list?.eventInfo?.length).toBe(1);
    expect(t.log.text()).toContain('sent as history posts');
  });

  it('drops and counts them under the drop policy', async () => {
    const t = await agentFor('gw-002', 'drop');
    const up = t.agent.router.upstream;
    let prop!: ReturnType<typeof up.postProperties>;
    await outage(t, () => {
      prop = up.postProperties({ PM25: 12 }, { timeoutMs: 20_000 });
      prop.catch(() => undefined);
    });
    await expect(prop).rejects.toThrow(/aged|waited longer/);
    expect(histories.some((h) => h.deviceName === 'gw-002')).toBe(false);
    const metrics = await (await fetch(`${t.agent.healthAddress!.url}/metrics`)).text();
    expect(metrics).toMatch(/alink_agent_outbox_drops_total\{class="property",reason="aged"\} 1/);
  });

  it('refuses a malformed history post with its code and keeps batch values in the history', async () => {
    const dn = 'gw-003';
    const cred = buildCredentials({ productKey: ID.productKey, deviceName: dn, deviceSecret: DEVICE.secret, signMethod: 'hmacsha256', secureMode: 3, timestamp: Date.now() });
    const c = await mqtt.connectAsync(mqttUrl, {
      ...cred,
      protocolVersion,
      reconnectPeriod: 0,
    });
    try {
      const sys = `/sys/${ID.productKey}/${dn}/thing/event/property`;
      await c.subscribeAsync([`${sys}/history/post_reply`, `${sys}/batch/post_reply`]);
      const replies: Record<string, { code: number; message: string }> = {};
      c.on('message', (_t, m) => {
        const r = JSON.parse(m.toString()) as { id: string; code: number; message: string };
        replies[r.id] = r;
      });
      const send = (kind: string, id: string, params: unknown) =>
        c.publishAsync(`${sys}/${kind}/post`, JSON.stringify({ id, version: '1.0', params, method: `thing.event.property.${kind}.post` }));
      const t0 = Date.now() - 3 * 86_400_000;
      await send('history', '1', { identity: { productKey: ID.productKey, deviceName: dn } });
      await send('history', '2', [{ identity: { productKey: ID.productKey, deviceName: dn }, properties: [{ PM25: { value: 3 } }] }]);
      await send('history', '3', [{ identity: { productKey: ID.productKey, deviceName: 'gw-001' }, properties: [{ PM25: { value: 3, time: t0 } }] }]);
      await send('history', '4', [{ identity: { productKey: ID.productKey, deviceName: dn }, properties: [{ PM25: { value: 3, time: t0 } }] }]);
      await send('batch', '5', { properties: { PM25: [{ value: 4, time: t0 + 1000 }] } });
      await waitFor(() => Object.keys(replies).length === 5, 5000, 'five replies');
      expect(replies['1']).toMatchObject({ code: 460 });
      expect(replies['1']!.message).toContain('params');
      expect(replies['2']).toMatchObject({ code: 460 });
      expect(replies['2']!.message).toContain('params[0].properties[0].PM25');
      expect(replies['3']).toMatchObject({ code: 6401 });
      expect(replies['4']).toMatchObject({ code: 200 });
      expect(replies['5']).toMatchObject({ code: 200 });
      const q = await iot.queryDevicePropertyData(new $Iot.QueryDevicePropertyDataRequest({ productKey: ID.productKey, deviceName: dn, identifier: 'PM25', startTime: t0 - 1, endTime: Date.now(), asc: 0, pageSize: 1 }));
      expect(q.body.data?.list?.propertyInfo).toEqual([{ time: String(t0 + 1000), value: '4' }]);
      expect(q.body.data?.nextValid).toBe(true);
      expect(q.body.data?.nextTime).toBe(t0);
    } finally {
      await c.endAsync(true);
    }
  });
});
