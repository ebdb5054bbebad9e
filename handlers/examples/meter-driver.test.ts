/**
 * The meter driver example on a hand-made plugin context (test/helpers/fake-gateway.ts): a fake `ctx.gateway` that
 * records adds, removes and reachability, and checks every post against the meter product's TSL. The agent's own
 * end-to-end tests drive a driver through a real broker once sub-device traffic is routed.
 */
import { join } from 'node:path';
import type { CallContext, DeviceIdentity } from '../api';
import { setUpDriver, type FakeDriver } from '../../test/helpers/fake-gateway';
import meterDriver, { METER_CODES, type MeterDriverOptions } from './meter-driver';

const ROOT = join(__dirname, '..', '..');
const FILES = {
  gatewayTsl: join(ROOT, 'thing-model', 'fixtures', 'example-gateway.json'),
  subProducts: { a1SubDemo01: join(ROOT, 'thing-model', 'fixtures', 'example-sensor.json') },
};
const PK = 'a1SubDemo01';
const M1 = { productKey: PK, deviceName: 'meter-01' };
const M2 = { productKey: PK, deviceName: 'meter-02' };
const SECRET = 'c0ffee00c0ffee00c0ffee00c0ffee00';

/** Two meters: meter-01 draws 3.6 kW (1 Wh per second) at 21.5 °C; meter-02 is idle and hot. */
const OPTIONS = {
  pollIntervalMs: 20,
  busLatencyMs: 1,
  lostAfterFailures: 2,
  overheatC: 60,
  msPerSecond: 5,
  meters: [
    { deviceName: 'meter-01', address: 1, deviceSecret: SECRET, temperatureC: 21.5, energyKWh: 12.5, powerW: 3600 },
    { deviceName: 'meter-02', address: 2, temperatureC: 65, powerW: 0 },
  ],
};

/** Polls `check` until it returns something truthy; fails after `ms`. */
async function waitFor<T>(what: string, check: () => T | undefined | false, ms = 3000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function call(d: FakeDriver<MeterDriverOptions>, device: DeviceIdentity | undefined, opts: { ms?: number; signal?: AbortSignal; service?: string } = {}): CallContext {
  return {
    kind: opts.service ? 'service' : 'propertySet',
    id: '1',
    service: opts.service,
    device,
    deadline: Date.now() + (opts.ms ?? 5000),
    signal: opts.signal ?? new AbortController().signal,
    logger: d.ctx.logger,
  };
}

describe('example driver: meter-driver', () => {
  const running: FakeDriver<MeterDriverOptions>[] = [];
  const start = async (options: object = OPTIONS) => {
    const d = await setUpDriver(meterDriver, options, FILES);
    running.push(d);
    await d.instance.start?.(d.ctx);
    return d;
  };
  afterEach(async () => {
    for (const d of running.splice(0)) await d.stop();
  });

  it('applies its schema defaults and claims every sub-device of one product', async () => {
    const d = await setUpDriver(meterDriver, { meters: [{ deviceName: 'meter-01', address: 1 }] }, FILES);
    expect(d.ctx.options).toMatchObject({ productKey: PK, pollIntervalMs: 10000, busLatencyMs: 20, lostAfterFailures: 3, msPerSecond: 1000 });
    expect(d.ctx.options.meters[0]).toEqual({ deviceName: 'meter-01', address: 1, temperatureC: 21, energyKWh: 0, powerW: 1000, setPointC: 20, dropouts: [] });
    const claim = d.instance.subDevices;
    expect(claim?.products).toEqual([PK]);
    expect(claim?.properties?.ids).toEqual(['SetPoint', 'Relay', 'Mode']);
    expect(Object.keys(claim?.services ?? {})).toEqual(['Reset', 'ReadMeter']);
    expect(d.instance.properties).toBeUndefined();
  });

  it.each([
    [{ meters: [] }, 'option "meters"'],
    [{ meters: [{ deviceName: 'm1', address: 1 }] }, 'option "meters.0.deviceName"'],
    [{ meters: [{ deviceName: 'meter-01', address: 248 }] }, 'option "meters.0.address"'],
    [{ meters: [{ deviceName: 'meter-01', address: 1, colour: 'red' }] }, 'colour'],
  ])('refuses bad options %j, naming the field', async (options, field) => {
    await expect(setUpDriver(meterDriver, options, FILES)).rejects.toThrow(field);
  });

  it('refuses two meters with one address or one name', async () => {
    const twice = { meters: [{ deviceName: 'meter-01', address: 1 }, { deviceName: 'meter-02', address: 1 }] };
    await expect(setUpDriver(meterDriver, { meters: [twice.meters[0], { deviceName: 'meter-01', address: 2 }] }, FILES)).rejects.toThrow('option "meters[1].deviceName"');
    await expect(setUpDriver(meterDriver, twice, FILES)).rejects.toThrow('option "meters[1].address": expected a value no other meter has, received 1 (meters[0] has it too)');
  });

  it('refuses to start without the Thing Model of its product', async () => {
    const d = await setUpDriver(meterDriver, { ...OPTIONS, productKey: 'a1Other' }, FILES);
    await expect(Promise.resolve(d.instance.start?.(d.ctx))).rejects.toThrow('option "productKey": the agent has no Thing Model for sub-device product a1Other');
  });

  it('adds the meters of its options at start, passing a secret on without logging it', async () => {
    const d = await start();
    expect(d.gateway.calls.filter((c) => c.op === 'add')).toEqual([
      { op: 'add', device: M1, deviceSecret: SECRET },
      { op: 'add', device: M2 },
    ]);
    expect(d.log.find('meter added').map((l) => l.meter)).toEqual(['meter-01', 'meter-02']);
    expect(d.log.text()).not.toContain(SECRET);
  });

  it('posts each online meter readings periodically, valid for its TSL, and nothing for one not online', async () => {
    const d = await start();
    await new Promise((r) => setTimeout(r, 60));
    expect(d.gateway.posts).toEqual([]);
    d.gateway.setState(M1, 'online');
    const [first, second] = await waitFor('two posts of meter-01', () => {
      const p = d.gateway.postsOf(M1);
      return p.length >= 2 && p;
    });
    expect(first!.values).toMatchObject({ Temperature: 21.5, SetPoint: 20, Relay: 1, Mode: 0 });
    expect(first!.values.Energy).toBeGreaterThanOrEqual(12.5);
    expect(second!.values.Energy).toBeGreaterThanOrEqual(first!.values.Energy as number);
    expect(d.gateway.postsOf(M2)).toEqual([]);
    expect(d.gateway.refused).toEqual([]);
  });

  it('posts Overheat once when a meter is at or above overheatC', async () => {
    const d = await start();
    d.gateway.setState(M2, 'online');
    await waitFor('three posts of meter-02', () => d.gateway.postsOf(M2).length >= 3);
    expect(d.gateway.postsOf(M2, 'event')).toEqual([{ device: `${PK}/meter-02`, kind: 'event', event: 'Overheat', values: { Temperature: 65 } }]);
  });

  it('writes a property set to the meter named by call.device, and reads it back on get', async () => {
    const d = await start();
    const props = d.instance.subDevices!.properties!;
    await props.apply({ SetPoint: 22.5, Mode: 1 }, call(d, M2));
    expect(await props.get!(['SetPoint', 'Mode', 'Relay'], call(d, M2))).toEqual({ SetPoint: 22.5, Mode: 1, Relay: 1 });
    expect(await props.get!(['SetPoint', 'Mode'], call(d, M1))).toEqual({ SetPoint: 20, Mode: 0 });
  });

  it('stops counting energy while the relay is open, and resets the counter before Reset answers', async () => {
    const d = await start();
    const { properties: props, services } = d.instance.subDevices!;
    const energy = async () => ((await services!.ReadMeter!({}, call(d, M1, { service: 'ReadMeter' }))) as { Energy: number }).Energy;
    await props!.apply({ Relay: 0 }, call(d, M1));
    const open = await energy();
    await new Promise((r) => setTimeout(r, 30));
    expect(await energy()).toBe(open);
    expect(open).toBeGreaterThanOrEqual(12.5);
    await expect(services!.Reset!({ DelaySeconds: 2 }, call(d, M1, { service: 'Reset' }))).resolves.toEqual({});
    expect(await energy()).toBe(0);
  });

  it('refuses a Reset delay that cannot elapse before the deadline, and stops waiting when the call is aborted', async () => {
    const d = await start({ ...OPTIONS, msPerSecond: 1000 });
    const reset = d.instance.subDevices!.services!.Reset!;
    const refused = reset({ DelaySeconds: 10 }, call(d, M1, { service: 'Reset', ms: 2000 }));
    await expect(refused).rejects.toMatchObject({ code: METER_CODES.delayTooLong, message: expect.stringContaining('DelaySeconds 10 (10000 ms) does not fit') });
    const ac = new AbortController();
    const pending = reset({ DelaySeconds: 1 }, call(d, M1, { service: 'Reset', signal: ac.signal }));
    ac.abort(new Error('deadline exceeded after 5000 ms'));
    await expect(pending).rejects.toThrow('deadline exceeded after 5000 ms');
    const read = d.instance.subDevices!.services!.ReadMeter!;
    expect(((await read({}, call(d, M1, { service: 'ReadMeter' }))) as { Energy: number }).Energy).toBeGreaterThanOrEqual(12.5);
  });

  it('answers a call for a meter it does not drive, or for none, with its own code', async () => {
    const d = await start();
    const read = d.instance.subDevices!.services!.ReadMeter!;
    await expect(read({}, call(d, { productKey: PK, deviceName: 'meter-99' }, { service: 'ReadMeter' }))).rejects.toMatchObject({ code: METER_CODES.unknownMeter, message: 'no meter meter-99 is on the bus' });
    await expect(read({}, call(d, undefined, { service: 'ReadMeter' }))).rejects.toMatchObject({ code: METER_CODES.unknownMeter });
  });

  it('reports a meter that stops answering lost, and found again, and answers calls for it meanwhile with its code', async () => {
    const d = await start({ ...OPTIONS, meters: [{ deviceName: 'meter-01', address: 1, dropouts: [{ afterMs: 50, forMs: 1000 }] }] });
    d.gateway.setState(M1, 'online');
    await waitFor('meter-01 lost', () => d.gateway.calls.some((c) => c.op === 'setReachable'));
    expect(d.gateway.calls.filter((c) => c.op === 'setReachable')).toEqual([{ op: 'setReachable', device: M1, reachable: false }]);
    const read = d.instance.subDevices!.services!.ReadMeter!;
    await expect(read({}, call(d, M1, { service: 'ReadMeter' }))).rejects.toMatchObject({ code: METER_CODES.notAnswering, message: 'meter meter-01 (bus address 1) did not answer' });
    const postsWhileLost = d.gateway.postsOf(M1).length;
    await waitFor('meter-01 found', () => d.gateway.calls.filter((c) => c.op === 'setReachable').length === 2);
    expect(d.gateway.calls.filter((c) => c.op === 'setReachable').map((c) => c.op === 'setReachable' && c.reachable)).toEqual([false, true]);
    await waitFor('posts again', () => d.gateway.postsOf(M1).length > postsWhileLost);
    expect(d.log.find('meter lost')).toHaveLength(1);
  });

  it('posts at once when a meter comes online, and stays quiet while the cloud has it disabled', async () => {
    const d = await start({ ...OPTIONS, pollIntervalMs: 60000 });
    // Long before the next interval: only the login can make it post now (at the end of the first poll, if that is
    // still running, else at once).
    d.gateway.setState(M1, 'online');
    await waitFor('a post right after the login', () => d.gateway.postsOf(M1).length >= 1);
    d.gateway.setState(M1, 'disabled', '522 sub-device disabled');
    expect(d.log.find('the cloud disabled the meter')[0]).toMatchObject({ meter: 'meter-01', state: 'disabled', previous: 'online', reason: '522 sub-device disabled' });
    const posted = d.gateway.postsOf(M1).length;
    await d.instance.subDevices!.services!.Reset!({ DelaySeconds: 0 }, call(d, M1, { service: 'Reset' }));
    await new Promise((r) => setTimeout(r, 50));
    expect(d.gateway.postsOf(M1)).toHaveLength(posted);
  });

  it('on reload removes the meters no longer named and adds the new ones', async () => {
    const d = await start();
    await d.reload({ ...OPTIONS, meters: [OPTIONS.meters[0], { deviceName: 'meter-03', address: 3 }] });
    expect(d.gateway.calls.slice(2)).toEqual([
      { op: 'remove', device: M2 },
      { op: 'add', device: { productKey: PK, deviceName: 'meter-03' } },
    ]);
    const read = d.instance.subDevices!.services!.ReadMeter!;
    await expect(read({}, call(d, { productKey: PK, deviceName: 'meter-03' }, { service: 'ReadMeter' }))).resolves.toEqual({ Energy: 0 });
    await expect(read({}, call(d, M2, { service: 'ReadMeter' }))).rejects.toMatchObject({ code: METER_CODES.unknownMeter });
    await expect(d.reload({ ...OPTIONS, productKey: 'a1Other' })).rejects.toThrow('option "productKey": cannot change on reload');
  });

  it('posts nothing after stop', async () => {
    const d = await start();
    d.gateway.setState(M1, 'online');
    await waitFor('a post', () => d.gateway.postsOf(M1).length > 0);
    await d.stop();
    running.splice(running.indexOf(d), 1);
    const count = d.gateway.posts.length;
    await new Promise((r) => setTimeout(r, 60));
    expect(d.gateway.posts.length).toBe(count);
  });
});
