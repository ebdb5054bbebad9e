/**
 * Property set through a real broker (aedes, MQTT 3.1.1): the 12 cases of docs/protocol/tsl.md ("Property-set cases") with exact
 * codes and messages naming the fields, nothing applied on rejection, plugin errors, malformed payloads,
 * de-duplication with a reply cache, and the built-in property store (persistence, report on start).
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { definePlugin, HandlerError } from '../handlers/api';
import { isReplyTo, MemoryReplyCache, startHarness, SYS, type Harness } from './router-harness';
import { waitFor } from './helpers/brokers';

const SET = `${SYS}/thing/service/property/set`;
const SET_REPLY = `${SYS}/thing/service/property/set_reply`;
const POST = `${SYS}/thing/event/property/post`;

/** Claims ReportInterval and WorkMode and records every apply call. */
function recorder(calls: Record<string, unknown>[], behaviour: { fail?: Error; delayMs?: number }) {
  return definePlugin({
    name: 'recorder',
    setup: () => ({
      properties: {
        ids: ['ReportInterval', 'WorkMode'],
        async apply(values) {
          if (behaviour.delayMs) await new Promise((r) => setTimeout(r, behaviour.delayMs));
          if (behaviour.fail) throw behaviour.fail;
          calls.push({ ...values });
        },
      },
    }),
  });
}

const CASES: { n: number; params: Record<string, unknown>; code: number; names: string[] }[] = [
  { n: 1, params: { ReportInterval: 60, WorkMode: 1, AlarmEnable: 1, TempAlarmThreshold: 30.5 }, code: 200, names: [] },
  {
    n: 2,
    params: {
      AlarmThresholds: { PM25High: 150, TempHigh: 40.0, HumidityHigh: 85.5, Enabled: 1, Level: 2, Note: 'summer profile', EffectiveFrom: '1767225600000' },
      UploadHours: [2, 14],
      NtpServers: ['ntp1.aliyun.com', 'pool.ntp.org'],
      NextMaintenance: '1767225600000',
    },
    code: 200,
    names: [],
  },
  { n: 3, params: { Temperature: 21.5 }, code: 460, names: ['Temperature', 'read-only'] },
  { n: 4, params: { ReportInterval: 7200 }, code: 460, names: ['ReportInterval', '3600'] },
  { n: 5, params: { ReportInterval: 'sixty' }, code: 460, names: ['ReportInterval', '"sixty"'] },
  { n: 6, params: { FanSpeed: 3 }, code: 460, names: ['FanSpeed', 'unknown'] },
  { n: 7, params: { DeviceAlias: 'gateway-in-the-north-wing-server-room' }, code: 460, names: ['DeviceAlias', '32'] },
  { n: 8, params: { WorkMode: 3 }, code: 460, names: ['WorkMode', 'received 3'] },
  { n: 9, params: { NextMaintenance: '2026-01-01T00:00:00Z' }, code: 460, names: ['NextMaintenance', 'date'] },
  { n: 10, params: { AlarmThresholds: { PM25High: 150, TempHigh: 40.0 } }, code: 460, names: ['AlarmThresholds.HumidityHigh', 'AlarmThresholds.Enabled', 'AlarmThresholds.EffectiveFrom'] },
  { n: 11, params: { UploadHours: [0, 4, 8, 12, 16, 20, 22] }, code: 460, names: ['UploadHours', '6'] },
  { n: 12, params: { ReportInterval: 62 }, code: 460, names: ['ReportInterval', 'steps of 5'] },
];

describe('property set (aedes)', () => {
  let h: Harness;
  const calls: Record<string, unknown>[] = [];
  const behaviour: { fail?: Error; delayMs?: number } = {};
  const cache = new MemoryReplyCache();

  beforeAll(async () => {
    h = await startHarness({ broker: 'aedes', plugins: [{ module: 'recorder', plugin: recorder(calls, behaviour) }], replyCache: cache, asyncTimeoutMs: 300 });
  });
  afterAll(() => h.close());
  beforeEach(() => {
    calls.length = 0;
    behaviour.fail = undefined;
    behaviour.delayMs = undefined;
  });

  it.each(CASES)('case $n answers $code', async ({ n, params, code, names }) => {
    const id = String(1000 + n);
    const postsBefore = h.on(POST).length;
    await h.send(SET, { id, version: '1.0', params, method: 'thing.service.property.set' });
    const reply = await h.next((m) => m.topic === SET_REPLY && isReplyTo(id)(m), 3000, `set_reply ${id}`);
    if (code === 200) {
      expect(reply.payload.toString()).toBe(`{"id":"${id}","code":200,"data":{}}`);
      // The new values are posted with float decimal points kept.
      const post = await h.next((m) => m.topic === POST && JSON.stringify(m.json?.params) === JSON.stringify(params), 3000, 'property post');
      expect(post.json).toMatchObject({ version: '1.0', sys: { ack: 1 }, method: 'thing.event.property.post' });
      if (n === 2) expect(post.payload.toString()).toContain('"TempHigh":40.0');
    } else {
      expect(reply.json).toMatchObject({ id, code, data: {} });
      for (const name of names) expect(reply.json?.message).toContain(name);
      // Nothing applied, nothing posted.
      expect(calls).toEqual([]);
      await new Promise((r) => setTimeout(r, 50));
      expect(h.on(POST).length).toBe(postsBefore);
    }
    if (n === 1) expect(calls).toEqual([{ ReportInterval: 60, WorkMode: 1 }]);
  });

  it('a mixed request with one bad value applies nothing', async () => {
    await h.send(SET, { id: '2001', version: '1.0', params: { ReportInterval: 30, AlarmEnable: 0, Temperature: 20.5 } });
    const reply = await h.next(isReplyTo('2001'));
    expect(reply.json).toMatchObject({ code: 460 });
    expect(reply.json?.message).toContain('Temperature');
    expect(calls).toEqual([]);
  });

  it('a plugin that throws gets 400, a HandlerError its own code', async () => {
    behaviour.fail = new Error('motor jammed');
    await h.send(SET, { id: '2002', version: '1.0', params: { WorkMode: 2 } });
    expect((await h.next(isReplyTo('2002'))).json).toMatchObject({ code: 400, message: 'motor jammed' });
    behaviour.fail = new HandlerError('calibration lock engaged', 100042);
    await h.send(SET, { id: '2003', version: '1.0', params: { WorkMode: 2 } });
    expect((await h.next(isReplyTo('2003'))).json).toMatchObject({ code: 100042, message: 'calibration lock engaged' });
  });

  it('a handler slower than the deadline is answered with 400 and its late result dropped', async () => {
    behaviour.delayMs = 600;
    const t0 = Date.now();
    await h.send(SET, { id: '2004', version: '1.0', params: { WorkMode: 0 } });
    const reply = await h.next(isReplyTo('2004'));
    expect(Date.now() - t0).toBeLessThan(600);
    expect(reply.json).toMatchObject({ code: 400 });
    expect(String(reply.json?.message)).toMatch(/^deadline exceeded after \d+ ms$/);
    await new Promise((r) => setTimeout(r, 400));
    expect(h.on(SET_REPLY, isReplyTo('2004'))).toHaveLength(1);
  });

  it.each([
    ['not JSON', '{"id":"3001", oops', '3001', 'payload: not valid JSON'],
    ['a numeric id', '{"id":3002,"version":"1.0","params":{"WorkMode":1}}', '3002', 'id: must be a string of decimal digits'],
    ['params not an object', '{"id":"3003","version":"1.0","params":[1]}', '3003', 'params: must be an object'],
    ['no params', '{"id":"3004","version":"1.0"}', '3004', 'params: missing'],
    ['a wrong method', '{"id":"3005","version":"1.0","params":{"WorkMode":1},"method":"thing.service.Reboot"}', '3005', 'method: expected thing.service.property.set'],
  ])('%s gets 460 naming the field', async (_what, payload, id, message) => {
    await h.send(SET, payload);
    const reply = await h.next((m) => m.topic === SET_REPLY && m.json?.id === id);
    expect(reply.json).toMatchObject({ id, code: 460 });
    expect(reply.json?.message).toContain(message);
    expect(calls).toEqual([]);
  });

  it('a redelivered request is answered from the reply cache without calling the plugin again', async () => {
    const req = { id: '4001', version: '1.0', params: { ReportInterval: 120 } };
    await h.send(SET, req);
    await h.next(isReplyTo('4001'));
    expect(calls).toHaveLength(1);
    const hits = cache.hits;
    await h.send(SET, req);
    await h.next(isReplyTo('4001'));
    expect(cache.hits).toBe(hits + 1);
    expect(calls).toHaveLength(1);
    expect(h.on(SET_REPLY, isReplyTo('4001')).map((m) => m.payload.toString())).toEqual([
      '{"id":"4001","code":200,"data":{}}',
      '{"id":"4001","code":200,"data":{}}',
    ]);
  });

  it('the property store keeps unclaimed values in ctx.state, on disk before the 200', async () => {
    await h.send(SET, { id: '5001', version: '1.0', params: { DeviceAlias: 'north', HumidityOffset: 1.5 } });
    expect((await h.next(isReplyTo('5001'))).json).toMatchObject({ code: 200 });
    // Read at once, through a second connection: the 200 came after the commit, so the row is there already.
    const other = new Database(join(h.dataDir, 'agent.db'), { readonly: true });
    try {
      const rows = other.prepare("SELECT key, value FROM plugin_state WHERE plugin = 'property-store'").all() as { key: string; value: string }[];
      const stored = Object.fromEntries(rows.map((r) => [r.key, JSON.parse(r.value) as unknown]));
      expect(stored).toMatchObject({ DeviceAlias: 'north', HumidityOffset: 1.5 });
      expect(stored.ReportInterval).toBeUndefined();
    } finally {
      other.close();
    }
    expect(existsSync(join(h.dataDir, 'plugins', 'property-store', 'properties.json'))).toBe(false);
    expect(h.observer.in.propertySet).toBeGreaterThan(0);
    expect(h.observer.rejections).toContain(460);
  });
});

describe('property store across restarts', () => {
  it('reports the stored values with a property post when it starts again', async () => {
    const first = await startHarness({ broker: 'aedes' });
    const dataDir = first.dataDir;
    try {
      await first.send(SET, { id: '6001', version: '1.0', params: { WorkMode: 2, TempAlarmThreshold: 35 } });
      expect((await first.next(isReplyTo('6001'))).json).toMatchObject({ code: 200 });
    } finally {
      await first.router.drain(500);
      await first.plugins.stop();
      await first.device.endAsync();
      await first.cloud.endAsync();
      await first.broker.stop();
      first.db?.close();
    }
    const second = await startHarness({ broker: 'aedes', dataDir });
    try {
      const post = await waitFor(() => second.on(POST)[0], 3000, 'the start-up property post');
      expect(post.payload.toString()).toContain('"TempAlarmThreshold":35.0');
      expect(post.json?.params).toEqual({ WorkMode: 2, TempAlarmThreshold: 35 });
    } finally {
      await second.close();
      const { rmSync } = await import('node:fs');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
