/**
 * The upstream API through a real broker, with the cloud client answering posts like the platform:
 * post_reply 200 resolves, a non-200 code rejects with CloudReplyError, no reply rejects with
 * UpstreamTimeoutError and leaves nothing pending; payloads are validated and TSL-serialized.
 */
import pino from 'pino';
import { AlinkUpstream, CloudReplyError, TopicError, UpstreamTimeoutError, ValidationError } from '../agent/upstream';
import { DN, exampleModel, PK, startHarness, SYS, USER, type Harness } from './router-harness';

const POST = `${SYS}/thing/event/property/post`;

describe('upstream API (aedes), platform answering 200', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ broker: 'aedes' });
  });
  afterAll(() => h.close());

  it('posts properties with sys.ack 1, decimal ids, floats with a decimal point, and resolves on post_reply 200', async () => {
    const time = Date.now();
    const reply = await h.router.upstream.postProperties({ Temperature: 21, PM25: { value: 12, time } });
    expect(reply).toMatchObject({ code: 200, message: 'success' });
    const post = h.on(POST).find((m) => m.json?.id === reply.id);
    expect(post?.payload.toString()).toBe(`{"id":"${reply.id}","version":"1.0","sys":{"ack":1},"params":{"Temperature":21.0,"PM25":{"value":12,"time":${time}}},"method":"thing.event.property.post"}`);
    expect(post?.qos).toBe(1);
    expect(reply.id).toMatch(/^[0-9]{1,10}$/);
  });

  it('gives each post its own id', async () => {
    const [a, b] = await Promise.all([h.router.upstream.postProperties({ PM25: 1 }), h.router.upstream.postProperties({ PM25: 2 })]);
    expect(a.id).not.toBe(b.id);
  });

  it('posts events with params.value and time', async () => {
    const reply = await h.router.upstream.postEvent('HighTemperature', { Temperature: 41.5, Threshold: 40, SensorId: 'ch3' }, { time: 1700000000000 });
    const post = h.on(`${SYS}/thing/event/HighTemperature/post`).find((m) => m.json?.id === reply.id);
    expect(post?.payload.toString()).toBe(
      `{"id":"${reply.id}","version":"1.0","sys":{"ack":1},"params":{"value":{"Temperature":41.5,"Threshold":40.0,"SensorId":"ch3"},"time":1700000000000},"method":"thing.event.HighTemperature.post"}`,
    );
  });

  it('rejects invalid values with a ValidationError naming the field, before publishing', async () => {
    const before = h.uplink.sent.length;
    const err = await h.router.upstream.postProperties({ Temperature: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).code).toBe(460);
    expect((err as ValidationError).message).toContain('Temperature');
    const ev = await h.router.upstream.postEvent('NoSuchEvent', {}).catch((e: unknown) => e);
    expect(ev).toBeInstanceOf(ValidationError);
    expect((ev as Error).message).toContain('NoSuchEvent');
    const missing = await h.router.upstream.postEvent('BootCompleted', { Reason: 2 }).catch((e: unknown) => e);
    expect((missing as Error).message).toContain('FirmwareVersion');
    expect(h.uplink.sent.length).toBe(before);
  });

  it('publishes on custom topics, relative or full, and refuses others', async () => {
    await h.router.upstream.publish('status', 'up', { qos: 1 });
    await h.router.upstream.publish(`${USER}status/detail`, Buffer.from([1, 2]));
    await h.next((m) => m.topic === `${USER}status/detail`);
    expect(h.on(`${USER}status`)[0]?.payload.toString()).toBe('up');
    await expect(h.router.upstream.publish('/other/topic', 'x')).rejects.toBeInstanceOf(TopicError);
    await expect(h.router.upstream.publish('a/+', 'x')).rejects.toBeInstanceOf(TopicError);
  });
});

describe('upstream API (aedes), platform answering 6207', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ broker: 'aedes', postReplyCode: 6207 });
  });
  afterAll(() => h.close());

  it('rejects with CloudReplyError carrying the cloud code', async () => {
    const err = await h.router.upstream.postProperties({ PM25: 5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CloudReplyError);
    expect((err as CloudReplyError).code).toBe(6207);
    expect((err as CloudReplyError).meaning).toBe('device data format error');
  });
});

describe('upstream API (aedes), platform silent', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ broker: 'aedes', postReplyCode: null, replyTimeoutMs: 300 });
  });
  afterAll(() => h.close());

  it('rejects with UpstreamTimeoutError and removes the pending entry', async () => {
    const up = h.router.upstream as AlinkUpstream;
    const t0 = Date.now();
    const p = up.postProperties({ PM25: 5 }, { timeoutMs: 200 });
    expect(up.pendingCount).toBe(1);
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamTimeoutError);
    expect((err as UpstreamTimeoutError).timeoutMs).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(up.pendingCount).toBe(0);
    // A late reply for that id is ignored.
    await h.send(`${SYS}/thing/event/property/post_reply`, { id: (err as UpstreamTimeoutError).requestId, code: 200, data: {} });
    await new Promise((r) => setTimeout(r, 50));
    expect(up.pendingCount).toBe(0);
  });

  it('times out each post at its own deadline, a shorter one added later included', async () => {
    const up = h.router.upstream as AlinkUpstream;
    const t0 = Date.now();
    const long = up.postProperties({ PM25: 1 }, { timeoutMs: 400 }).catch((e: unknown) => [e, Date.now() - t0]);
    const short = up.postProperties({ PM25: 2 }, { timeoutMs: 100 }).catch((e: unknown) => [e, Date.now() - t0]);
    const [shortErr, shortAt] = (await short) as [unknown, number];
    expect(shortErr).toBeInstanceOf(UpstreamTimeoutError);
    expect(shortAt).toBeGreaterThanOrEqual(95);
    expect(shortAt).toBeLessThan(350);
    expect(up.pendingCount).toBe(1);
    const [longErr, longAt] = (await long) as [unknown, number];
    expect(longErr).toBeInstanceOf(UpstreamTimeoutError);
    expect(longAt).toBeGreaterThanOrEqual(395);
    expect(up.pendingCount).toBe(0);
  });
});

describe('upstream API, uplink refusing', () => {
  it('rejects with the uplink error and leaves nothing pending', async () => {
    const refusal = new Error('outbox full');
    const up = new AlinkUpstream({
      identity: { productKey: PK, deviceName: DN },
      model: exampleModel(),
      uplink: { publish: () => Promise.reject(refusal) },
      logger: pino({ level: 'silent' }),
    });
    await expect(up.postProperties({ PM25: 3 })).rejects.toBe(refusal);
    await expect(up.postEvent('BootCompleted', { Reason: 0, FirmwareVersion: '1' })).rejects.toBe(refusal);
    expect(up.pendingCount).toBe(0);
  });
});
