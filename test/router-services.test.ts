/**
 * Services and RRPC through real brokers: async services with validated input/output, sync services over RRPC
 * in both forms, overlapping RRPCs of one service, budgets, raw RRPC, custom-topic RRPC, malformed payloads,
 * throwing plugins and de-duplication.
 */
import { definePlugin, HandlerError } from '../handlers/api';
import { isReplyTo, MemoryReplyCache, sleep, startHarness, SYS, USER, type Harness } from './router-harness';

const RRPC_REQ = (mid: string) => `${SYS}/rrpc/request/${mid}`;
const RRPC_RES = (mid: string) => `${SYS}/rrpc/response/${mid}`;
const EXT_SVC = (mid: string, svc: string) => `/ext/rrpc/${mid}${SYS}/thing/service/${svc}`;

interface Behaviour {
  exportOutput?: Record<string, unknown>;
  rebootError?: Error;
}

function servicePlugin(b: Behaviour, calls: string[]) {
  return definePlugin({
    name: 'services',
    setup: () => ({
      services: {
        // SettleSeconds doubles as a delay in tenths of a second, to make calls overlap.
        Calibrate: async (input: { Sensor: number; ReferenceValue: number; SettleSeconds: number }, call) => {
          calls.push(`Calibrate:${call.id}`);
          await sleep(input.SettleSeconds * 100);
          return { Success: 1, Offset: input.ReferenceValue / 10, CalibratedAt: '1767225600000', Message: `sensor ${input.Sensor}` };
        },
        ReadChannels: async (input: { Channels: number[] }, call) => {
          calls.push(`ReadChannels:${call.id}`);
          if (input.Channels.includes(16)) {
            await new Promise<void>((resolve) => {
              const t = setTimeout(resolve, 1500);
              call.signal.addEventListener('abort', () => {
                calls.push('ReadChannels:aborted');
                clearTimeout(t);
                resolve();
              });
            });
          }
          return { Readings: input.Channels.map((c) => ({ ChannelId: c, Value: c * 1.5 })) };
        },
        Reboot: (input: { DelaySeconds: number }) => {
          calls.push(`Reboot:${input.DelaySeconds}`);
          if (b.rebootError) throw b.rebootError;
        },
        ExportLogs: async () => b.exportOutput,
      },
      rrpc: {
        raw: (req) => Buffer.concat([Buffer.from('raw:'), req.payload]),
        topics: {
          'rpc/ping': (req) => `pong:${req.payload.toString()}`,
          [`${USER}rpc/fail`]: () => {
            throw new HandlerError('no such register', 100007);
          },
        },
      },
    }),
  });
}

describe('services and RRPC (aedes)', () => {
  let h: Harness;
  const b: Behaviour = {};
  const calls: string[] = [];
  const cache = new MemoryReplyCache();

  beforeAll(async () => {
    h = await startHarness({
      broker: 'aedes',
      plugins: [{ module: 'services', plugin: servicePlugin(b, calls) }],
      replyCache: cache,
      rrpc: { budgetMs: 2000, services: { ReadChannels: 600 } },
    });
  });
  afterAll(() => h.close());
  beforeEach(() => {
    calls.length = 0;
    b.exportOutput = undefined;
    b.rebootError = undefined;
  });

  it('subscribes to every system topic, the RRPC forms and the claimed RRPC topics', () => {
    const topics = h.router.subscriptions().map((s) => `${s.topic}@${s.qos}`);
    expect(topics).toEqual(
      expect.arrayContaining([
        `${SYS}/thing/service/property/set@1`,
        `${SYS}/thing/service/Reboot@1`,
        `${SYS}/thing/service/Calibrate@1`,
        `${SYS}/rrpc/request/+@0`,
        `/ext/rrpc/+${SYS}/thing/service/+@0`,
        `${SYS}/thing/event/+/post_reply@1`,
        `/ext/rrpc/+${USER}rpc/ping@0`,
      ]),
    );
  });

  it('answers an async service on {id}_reply with the request id', async () => {
    await h.send(`${SYS}/thing/service/Reboot`, { id: '7001', version: '1.0', params: { DelaySeconds: 5 }, method: 'thing.service.Reboot' });
    const reply = await h.next((m) => m.topic === `${SYS}/thing/service/Reboot_reply`);
    expect(reply.payload.toString()).toBe('{"id":"7001","code":200,"data":{}}');
    expect(calls).toEqual(['Reboot:5']);
  });

  it('validates async output: valid output is sent, invalid output is a 400 naming the field', async () => {
    b.exportOutput = { Location: 'oss://logs/1.tgz', Lines: 1200 };
    const params = { From: '1767225600000', To: '1767229200000', MinLevel: 1 };
    await h.send(`${SYS}/thing/service/ExportLogs`, { id: '7002', version: '1.0', params });
    expect((await h.next(isReplyTo('7002'))).json).toEqual({ id: '7002', code: 200, data: b.exportOutput });

    b.exportOutput = { Location: 'oss://logs/2.tgz', Lines: -1 };
    await h.send(`${SYS}/thing/service/ExportLogs`, { id: '7003', version: '1.0', params });
    const bad = await h.next(isReplyTo('7003'));
    expect(bad.json).toMatchObject({ id: '7003', code: 400 });
    expect(bad.json?.message).toContain('Lines');
  });

  it('rejects bad input with 460 naming the field, without calling the handler', async () => {
    await h.send(`${SYS}/thing/service/Reboot`, { id: '7004', version: '1.0', params: { DelaySeconds: 301 } });
    const reply = await h.next(isReplyTo('7004'));
    expect(reply.json).toMatchObject({ code: 460 });
    expect(reply.json?.message).toContain('DelaySeconds');
    expect(calls).toEqual([]);
  });

  it('a throwing handler gets 400 with its message, a HandlerError its own code', async () => {
    b.rebootError = new Error('watchdog busy');
    await h.send(`${SYS}/thing/service/Reboot`, { id: '7005', version: '1.0', params: { DelaySeconds: 1 } });
    expect((await h.next(isReplyTo('7005'))).json).toMatchObject({ code: 400, message: 'watchdog busy' });
    b.rebootError = new HandlerError('reboot inhibited', 100100);
    await h.send(`${SYS}/thing/service/Reboot`, { id: '7006', version: '1.0', params: { DelaySeconds: 1 } });
    expect((await h.next(isReplyTo('7006'))).json).toMatchObject({ code: 100100, message: 'reboot inhibited' });
  });

  it('answers a sync service over /rrpc/request/{messageId} on /rrpc/response/{messageId}, floats with a decimal point', async () => {
    const mid = '1457411227430101';
    await h.send(RRPC_REQ(mid), { id: '8001', version: '1.0', params: { Sensor: 0, ReferenceValue: 20, SettleSeconds: 0 }, method: 'thing.service.Calibrate' }, { qos: 0 });
    const reply = await h.next((m) => m.topic === RRPC_RES(mid));
    expect(reply.payload.toString()).toBe('{"id":"8001","code":200,"data":{"Success":1,"Offset":2.0,"CalibratedAt":"1767225600000","Message":"sensor 0"}}');
    expect(reply.qos).toBe(0);
  });

  it('answers two overlapping RRPCs of the same service each on its own messageId', async () => {
    const slow = '1457411227430201';
    const fast = '1457411227430202';
    await h.send(RRPC_REQ(slow), { id: '8101', version: '1.0', params: { Sensor: 0, ReferenceValue: 30, SettleSeconds: 4 }, method: 'thing.service.Calibrate' }, { qos: 0 });
    await h.send(RRPC_REQ(fast), { id: '8102', version: '1.0', params: { Sensor: 1, ReferenceValue: 50, SettleSeconds: 1 }, method: 'thing.service.Calibrate' }, { qos: 0 });
    const a = await h.next((m) => m.topic === RRPC_RES(slow), 3000, 'the slow answer');
    const bb = await h.next((m) => m.topic === RRPC_RES(fast), 3000, 'the fast answer');
    expect(a.json).toMatchObject({ id: '8101', code: 200, data: { Offset: 3, Message: 'sensor 0' } });
    expect(bb.json).toMatchObject({ id: '8102', code: 200, data: { Offset: 5, Message: 'sensor 1' } });
    expect(h.seen.filter((m) => m.topic.startsWith(`${SYS}/rrpc/response/`) && (m.json?.id === '8101' || m.json?.id === '8102'))).toHaveLength(2);
  });

  it('answers the ext form on the request topic and ignores the echo of its own answer', async () => {
    const mid = '1457411227430301';
    const topic = EXT_SVC(mid, 'Calibrate');
    await h.send(topic, { id: '8201', version: '1.0', params: { Sensor: 2, ReferenceValue: 10, SettleSeconds: 0 }, method: 'thing.service.Calibrate' }, { qos: 0 });
    const reply = await h.next((m) => m.topic === topic && m.json?.code !== undefined);
    expect(reply.json).toMatchObject({ id: '8201', code: 200, data: { Success: 1, Offset: 1 } });
    await sleep(150);
    // The request and one answer: the broker's echo of the answer was not taken for a new request.
    expect(h.on(topic)).toHaveLength(2);
    expect(calls.filter((c) => c.startsWith('Calibrate'))).toHaveLength(1);
  });

  it('answers a slow RRPC with 400 inside its budget, aborts the handler and drops the late result', async () => {
    const mid = '1457411227430401';
    const misses = h.observer.budgetMisses;
    const t0 = Date.now();
    await h.send(RRPC_REQ(mid), { id: '8301', version: '1.0', params: { Channels: [1, 16] }, method: 'thing.service.ReadChannels' }, { qos: 0 });
    const reply = await h.next((m) => m.topic === RRPC_RES(mid), 2000);
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeLessThan(600);
    expect(reply.json).toMatchObject({ id: '8301', code: 400 });
    expect(String(reply.json?.message)).toMatch(/^deadline exceeded after \d+ ms$/);
    expect(h.observer.budgetMisses).toBe(misses + 1);
    await sleep(200);
    expect(calls).toContain('ReadChannels:aborted');
    expect(h.on(RRPC_RES(mid))).toHaveLength(1);
  });

  it('hands non-Alink RRPC payloads to the raw RRPC plugin as bytes', async () => {
    const mid = '1457411227430501';
    const bytes = Buffer.from([0x01, 0x02, 0xff, 0x00]);
    await h.send(RRPC_REQ(mid), bytes, { qos: 0 });
    const reply = await h.next((m) => m.topic === RRPC_RES(mid));
    expect(reply.payload).toEqual(Buffer.concat([Buffer.from('raw:'), bytes]));
  });

  it('routes custom-topic RRPC to the plugin and answers on the same topic', async () => {
    const topic = `/ext/rrpc/1457411227430601${USER}rpc/ping`;
    await h.send(topic, 'hello', { qos: 0 });
    const reply = await h.next((m) => m.topic === topic && m.payload.toString() !== 'hello');
    expect(reply.payload.toString()).toBe('pong:hello');
    await sleep(100);
    expect(h.on(topic)).toHaveLength(2);

    const failing = `/ext/rrpc/1457411227430602${USER}rpc/fail`;
    await h.send(failing, 'x', { qos: 0 });
    const err = await h.next((m) => m.topic === failing && m.payload.toString() !== 'x');
    expect(err.json).toMatchObject({ code: 100007, message: 'no such register' });
  });

  it('answers a malformed sync request with 460 on the response topic', async () => {
    const mid = '1457411227430701';
    await h.send(RRPC_REQ(mid), { version: '1.0', params: {}, method: 'thing.service.Calibrate' }, { qos: 0 });
    const reply = await h.next((m) => m.topic === RRPC_RES(mid));
    expect(reply.json).toMatchObject({ code: 460, message: 'id: missing' });

    const mid2 = '1457411227430702';
    await h.send(RRPC_REQ(mid2), { id: '8401', version: '1.0', params: { Sensor: 7, ReferenceValue: 1, SettleSeconds: 0 }, method: 'thing.service.Calibrate' }, { qos: 0 });
    const bad = await h.next((m) => m.topic === RRPC_RES(mid2));
    expect(bad.json).toMatchObject({ id: '8401', code: 460 });
    expect(bad.json?.message).toContain('Sensor');

    const mid3 = '1457411227430703';
    await h.send(RRPC_REQ(mid3), { id: '8402', version: '1.0', params: {}, method: 'thing.service.Nope' }, { qos: 0 });
    expect((await h.next((m) => m.topic === RRPC_RES(mid3))).json).toMatchObject({ id: '8402', code: 460, message: 'Nope: unknown service' });
  });

  it('answers a redelivered async call from the reply cache without calling the handler again', async () => {
    const req = { id: '9001', version: '1.0', params: { DelaySeconds: 9 } };
    await h.send(`${SYS}/thing/service/Reboot`, req);
    await h.next(isReplyTo('9001'));
    await h.send(`${SYS}/thing/service/Reboot`, req);
    await h.next(isReplyTo('9001'));
    expect(calls).toEqual(['Reboot:9']);
    expect(h.on(`${SYS}/thing/service/Reboot_reply`, isReplyTo('9001'))).toHaveLength(2);
  });
});

describe('RRPC on mosquitto (MQTT 5), no raw RRPC plugin', () => {
  let h: Harness;
  const calls: string[] = [];

  beforeAll(async () => {
    const plugin = definePlugin({
      name: 'calibrate-only',
      setup: () => ({
        services: {
          Calibrate: (input: { ReferenceValue: number }, call) => {
            calls.push(call.id);
            return { Success: 1, Offset: input.ReferenceValue, CalibratedAt: '1700000000000', Message: 'ok' };
          },
        },
      }),
    });
    h = await startHarness({ broker: 'mosquitto', plugins: [{ module: 'calibrate-only', plugin }], rrpc: { budgetMs: 1000 } });
  });
  afterAll(() => h.close());

  it('answers both RRPC forms', async () => {
    const params = { Sensor: 0, ReferenceValue: 3.25, SettleSeconds: 0 };
    await h.send(RRPC_REQ('2001'), { id: '1', version: '1.0', params, method: 'thing.service.Calibrate' }, { qos: 0 });
    expect((await h.next((m) => m.topic === RRPC_RES('2001'))).json).toMatchObject({ id: '1', code: 200, data: { Offset: 3.25 } });
    const ext = EXT_SVC('2002', 'Calibrate');
    await h.send(ext, { id: '2', version: '1.0', params, method: 'thing.service.Calibrate' }, { qos: 0 });
    expect((await h.next((m) => m.topic === ext && m.json?.code !== undefined)).json).toMatchObject({ id: '2', code: 200 });
    expect(calls).toEqual(['1', '2']);
  });

  it('answers unparsable RRPC payloads with 460 on the response topic', async () => {
    await h.send(RRPC_REQ('3001'), 'definitely not json', { qos: 0 });
    const reply = await h.next((m) => m.topic === RRPC_RES('3001'));
    expect(reply.json).toMatchObject({ code: 460 });
    expect(reply.json?.message).toContain('no plugin handles raw RRPC');

    const ext = EXT_SVC('3002', 'Calibrate');
    await h.send(ext, '{"id":"5", oops', { qos: 0 });
    const r2 = await h.next((m) => m.topic === ext && m.json?.code !== undefined);
    expect(r2.json).toMatchObject({ code: 460, message: 'payload: not valid JSON' });
  });

  it('answers a service nobody implements with 400', async () => {
    await h.send(RRPC_REQ('4001'), { id: '3', version: '1.0', params: { Channels: [1] }, method: 'thing.service.ReadChannels' }, { qos: 0 });
    expect((await h.next((m) => m.topic === RRPC_RES('4001'))).json).toMatchObject({ id: '3', code: 400, message: 'ReadChannels: no plugin implements this service' });
  });
});

describe('drain', () => {
  it('stops taking messages, then answers handlers still running with an error and aborts them', async () => {
    const events: string[] = [];
    const plugin = definePlugin({
      name: 'slow',
      setup: () => ({
        services: {
          Reboot: (_input, call) =>
            new Promise<void>((resolve) => {
              events.push('started');
              call.signal.addEventListener('abort', () => (events.push('aborted'), resolve()));
            }),
        },
      }),
    });
    const h = await startHarness({ broker: 'aedes', plugins: [{ module: 'slow', plugin }] });
    try {
      await h.send(`${SYS}/thing/service/Reboot`, { id: '10', version: '1.0', params: { DelaySeconds: 1 } });
      await waitForEvent(events, 'started');
      const t0 = Date.now();
      await h.router.drain(150);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
      expect(events).toEqual(['started', 'aborted']);
      const reply = await h.next((m) => m.topic === `${SYS}/thing/service/Reboot_reply`);
      expect(reply.json).toEqual({ id: '10', code: 400, data: {}, message: 'agent is shutting down' });
      // Nothing new is taken once draining.
      await h.send(`${SYS}/thing/service/Reboot`, { id: '11', version: '1.0', params: { DelaySeconds: 1 } });
      await sleep(100);
      expect(h.on(`${SYS}/thing/service/Reboot_reply`)).toHaveLength(1);
      expect(events).toEqual(['started', 'aborted']);
    } finally {
      await h.close();
    }
  });
});

async function waitForEvent(events: string[], e: string): Promise<void> {
  for (let i = 0; i < 100 && !events.includes(e); i++) await sleep(10);
  expect(events).toContain(e);
}
