/**
 * The post-after-set policy through a real broker (aedes): the values of successful sets are posted so that the
 * cloud's shadow is current; the sets of one window share one post (latest value per identifier), which leaves
 * after their set_replies; a lone set still gets its post; disabled, nothing is posted; drain posts what waits.
 */
import { isReplyTo, sleep, startHarness, SYS, type Harness, type Seen } from './router-harness';
import { waitFor } from './helpers/brokers';

const SET = `${SYS}/thing/service/property/set`;
const SET_REPLY = `${SYS}/thing/service/property/set_reply`;
const POST = `${SYS}/thing/event/property/post`;

const setRequest = (id: string, params: Record<string, unknown>) => JSON.stringify({ id, version: '1.0', params, method: 'thing.service.property.set' });

/** Publishes every request back to back (no wait for any reply), as a busy cloud does. */
async function burst(h: Harness, requests: [string, Record<string, unknown>][]): Promise<number> {
  const from = h.seen.length;
  await Promise.all(requests.map(([id, params]) => h.cloud.publishAsync(SET, setRequest(id, params), { qos: 1 })));
  return from;
}

/** Index in `h.seen` of the first message matching `pred` at or after `from`. */
function indexOf(h: Harness, from: number, pred: (m: Seen) => boolean): number {
  for (let i = from; i < h.seen.length; i++) if (pred(h.seen[i] as Seen)) return i;
  return -1;
}

describe('post after set, a window of 300 ms', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ broker: 'aedes', postAfterSet: { enabled: true, coalesceMs: 300 } });
  });
  afterAll(() => h.close());

  it('merges the sets of the window into one post, the latest value of each identifier winning, after their replies', async () => {
    const requests: [string, Record<string, unknown>][] = [
      ['7001', { ReportInterval: 60, WorkMode: 0 }],
      ['7002', { WorkMode: 1, TempAlarmThreshold: 30 }],
      ['7003', { ReportInterval: 120, DeviceAlias: 'north' }],
      ['7004', { WorkMode: 2 }],
    ];
    const from = await burst(h, requests);
    for (const [id] of requests) expect((await h.next(isReplyTo(id), 3000, `set_reply ${id}`)).json).toMatchObject({ code: 200 });
    const post = await waitFor(() => h.seen.slice(from).find((m) => m.topic === POST), 3000, 'the coalesced post');
    expect(post.json?.params).toEqual({ ReportInterval: 120, WorkMode: 2, TempAlarmThreshold: 30, DeviceAlias: 'north' });
    // The float keeps its decimal point through the merge.
    expect(post.payload.toString()).toContain('"TempAlarmThreshold":30.0');
    expect(post.json).toMatchObject({ version: '1.0', sys: { ack: 1 }, method: 'thing.event.property.post' });
    const postAt = indexOf(h, from, (m) => m.topic === POST);
    for (const [id] of requests) expect(indexOf(h, from, (m) => m.topic === SET_REPLY && isReplyTo(id)(m))).toBeLessThan(postAt);
    // One post for the four sets: nothing else follows once the window is over.
    await sleep(400);
    expect(h.seen.slice(from).filter((m) => m.topic === POST)).toHaveLength(1);
    // The platform's post_reply settled it.
    expect((h.router.upstream as unknown as { pendingCount: number }).pendingCount).toBe(0);
  });

  it('posts nothing for a rejected set, and a rejected set in the window does not enter the post', async () => {
    const from = await burst(h, [
      ['7101', { WorkMode: 1 }],
      ['7102', { WorkMode: 0, Temperature: 20.5 }],
    ]);
    expect((await h.next(isReplyTo('7101'))).json).toMatchObject({ code: 200 });
    expect((await h.next(isReplyTo('7102'))).json).toMatchObject({ code: 460 });
    const post = await waitFor(() => h.seen.slice(from).find((m) => m.topic === POST), 3000, 'the post');
    expect(post.json?.params).toEqual({ WorkMode: 1 });
  });

  it('drain posts what waits in the window at once', async () => {
    const from = h.seen.length;
    await h.send(SET, setRequest('7201', { AlarmEnable: 1 }));
    expect((await h.next(isReplyTo('7201'))).json).toMatchObject({ code: 200 });
    const t0 = Date.now();
    await h.router.drain(1000);
    const post = await waitFor(() => h.seen.slice(from).find((m) => m.topic === POST), 3000, 'the post flushed by drain');
    expect(post.json?.params).toEqual({ AlarmEnable: 1 });
    expect(Date.now() - t0).toBeLessThan(300);
  });
});

describe('post after set, default policy (this event-loop turn)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ broker: 'aedes' });
  });
  afterAll(() => h.close());

  it('posts the values of a lone set', async () => {
    const from = h.seen.length;
    await h.send(SET, setRequest('8001', { ReportInterval: 300, WorkMode: 1 }));
    expect((await h.next(isReplyTo('8001'))).json).toMatchObject({ code: 200 });
    const post = await waitFor(() => h.seen.slice(from).find((m) => m.topic === POST), 3000, 'the post');
    expect(post.json?.params).toEqual({ ReportInterval: 300, WorkMode: 1 });
    expect(indexOf(h, from, (m) => m.topic === SET_REPLY)).toBeLessThan(indexOf(h, from, (m) => m.topic === POST));
  });

  it('under a burst, posts at most once per set and the posts, applied in order, leave the latest values', async () => {
    const requests: [string, Record<string, unknown>][] = Array.from({ length: 40 }, (_, i) => [String(8100 + i), i % 2 ? { WorkMode: i % 3 } : { ReportInterval: 5 * (i + 1) }]);
    const from = await burst(h, requests);
    for (const [id] of requests) expect((await h.next(isReplyTo(id), 3000, `set_reply ${id}`)).json).toMatchObject({ code: 200 });
    const latest: Record<string, unknown> = {};
    for (const [, params] of requests) Object.assign(latest, params);
    const shadow: Record<string, unknown> = {};
    await waitFor(
      () => {
        for (const k of Object.keys(shadow)) delete shadow[k];
        for (const m of h.seen.slice(from)) if (m.topic === POST) Object.assign(shadow, m.json?.params);
        return JSON.stringify(shadow) === JSON.stringify({ ReportInterval: latest.ReportInterval, WorkMode: latest.WorkMode }) ? true : undefined;
      },
      3000,
      'the posts to carry the latest values',
    );
    const posts = h.seen.slice(from).filter((m) => m.topic === POST).length;
    expect(posts).toBeGreaterThanOrEqual(1);
    expect(posts).toBeLessThanOrEqual(requests.length);
  });
});

describe('post after set, disabled', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ broker: 'aedes', postAfterSet: { enabled: false } });
  });
  afterAll(() => h.close());

  it('answers the set and posts nothing', async () => {
    const from = h.seen.length;
    await h.send(SET, setRequest('9001', { ReportInterval: 60 }));
    expect((await h.next(isReplyTo('9001'))).json).toMatchObject({ code: 200 });
    await h.router.drain(500);
    await sleep(200);
    expect(h.seen.slice(from).filter((m) => m.topic === POST)).toEqual([]);
  });
});
