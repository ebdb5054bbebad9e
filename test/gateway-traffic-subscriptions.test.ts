/**
 * The traffic side's contract with the sessions side, over real brokers: a sub-device's filters are subscribed on
 * the gateway's connection before it is reported online (its property set, services, RRPC and custom topics reach the
 * gateway) and dropped after it goes offline; owners (`devices` wins over `products`) and the Alink refusals for a
 * sub-device that is unknown, disabled, not online or unowned. The directory is a hand-made one: this tests the traffic
 * side alone (test/gateway-e2e.test.ts runs both sides together).
 */
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { AlinkCodes } from '../thing-model/codes';
import { deviceTopics } from '../thing-model/wire';
import type { SubDeviceDirectory, SubDeviceEntry } from '../agent/gateway/directory';
import { subDeviceKey } from '../agent/gateway/directory';
import { createSubDeviceTraffic, topicOwner, type TrafficSubscriber } from '../agent/gateway/traffic';
import type { SubDeviceState } from '../handlers/api';
import { compileThingModel, loadThingModelFile } from '../thing-model';
import type { Uplink } from '../agent/transport';
import { TSL_PATH } from './router-harness';
import { startAedes, startMosquitto, waitFor, type RunningBroker } from './helpers/brokers';

const model = compileThingModel(loadThingModelFile(TSL_PATH));
const meter = { productKey: 'a1Meter', deviceName: 'm-01' };
const special = { productKey: 'a1Meter', deviceName: 'm-02' };

function directoryOf(states: Record<string, SubDeviceState>): SubDeviceDirectory {
  const entries = new Map<string, SubDeviceEntry>();
  for (const [key, state] of Object.entries(states)) {
    const [productKey = '', deviceName = ''] = key.split('/');
    entries.set(key, { key, productKey, deviceName, state, model });
  }
  return {
    get: (pk, dn) => entries.get(`${pk}/${dn}`),
    list: () => [...entries.values()],
    onChange: () => () => undefined,
  };
}

function subscriberOf(client: MqttClient): TrafficSubscriber {
  return {
    subscribe: async (subs) => {
      await client.subscribeAsync(Object.fromEntries(subs.map((s) => [s.topic, { qos: s.qos }])));
    },
    unsubscribe: async (topics) => {
      await client.unsubscribeAsync([...topics]);
    },
  };
}

function uplinkOf(client: MqttClient): Uplink {
  return {
    publish: async (topic, payload, opts) => {
      const acked = client.publishAsync(topic, payload, { qos: opts.qos }).then(() => undefined);
      return { acked };
    },
  };
}
const noUplink: Uplink = { publish: () => Promise.reject(new Error('not used')) };
const routerDeps = (uplink: Uplink) => ({ uplink, rrpc: { budgetMs: 5000 }, asyncTimeoutMs: 30_000, customTopicTimeoutMs: 30_000, upstream: {}, slotOf: () => undefined });

const claims = [
  { owner: 'by-product', claim: { products: ['a1Meter'] } },
  { owner: 'by-device', claim: { devices: [special] } },
];

describe.each([
  ['mosquitto', () => startMosquitto()],
  ['aedes', () => startAedes()],
])('sub-device subscriptions on %s', (_name, start) => {
  let broker: RunningBroker;
  let gateway: MqttClient;
  let cloud: MqttClient;
  const received: string[] = [];

  beforeAll(async () => {
    broker = await start();
    gateway = await mqtt.connectAsync(broker.url, { clientId: 'gw', reconnectPeriod: 0 });
    cloud = await mqtt.connectAsync(broker.url, { clientId: 'cloud', reconnectPeriod: 0 });
    gateway.on('message', (topic) => received.push(topic));
  });
  afterAll(async () => {
    await gateway?.endAsync();
    await cloud?.endAsync();
    await broker?.stop();
  });

  it('subscribes before online and unsubscribes after offline', async () => {
    const dir = directoryOf({ [subDeviceKey(meter)]: 'online' });
    const traffic = createSubDeviceTraffic({ directory: dir, subscriber: subscriberOf(gateway), routers: routerDeps(uplinkOf(gateway)), claims, logger: pino({ level: 'silent' }) });
    const t = deviceTopics(meter);
    const inbound = [t.propertySet, t.service('SetRelay'), t.rrpcRequest('123'), `/ext/rrpc/9/${t.sysPrefix.slice(1)}/thing/service/Sync`, `${t.userPrefix}cmd/1`];
    await traffic.beforeOnline(dir.get(meter.productKey, meter.deviceName)!);
    for (const topic of inbound) await cloud.publishAsync(topic, '{}', { qos: 1 });
    await waitFor(() => inbound.every((x) => received.includes(x)), 5000, 'every sub-device topic at the gateway');
    received.length = 0;
    // Another sub-device's traffic is not delivered: the filters are per device.
    await cloud.publishAsync(deviceTopics(special).propertySet, '{}', { qos: 1 });
    await traffic.afterOffline(dir.get(meter.productKey, meter.deviceName)!);
    await cloud.publishAsync(t.propertySet, '{}', { qos: 1 });
    // A marker on a topic still subscribed proves the broker delivered everything published before it.
    await gateway.subscribeAsync('marker');
    await cloud.publishAsync('marker', '{}', { qos: 1 });
    await waitFor(() => received.includes('marker'), 5000, 'the marker');
    expect(received).toEqual(['marker']);
  });

  it('posts for a sub-device on its own topics, checked against its TSL, settled by its _reply', async () => {
    const dir = directoryOf({ [subDeviceKey(meter)]: 'online' });
    const traffic = createSubDeviceTraffic({ directory: dir, subscriber: subscriberOf(gateway), routers: routerDeps(uplinkOf(gateway)), claims, logger: pino({ level: 'silent' }) });
    const t = deviceTopics(meter);
    await traffic.beforeOnline(dir.get(meter.productKey, meter.deviceName)!);
    gateway.on('message', (topic, payload) => {
      const owner = topicOwner(topic);
      if (owner) void traffic.handle({ topic, payload, qos: 1 }, owner);
    });
    // The cloud's side: answer the sub-device's property post.
    const posts: unknown[] = [];
    await cloud.subscribeAsync(t.propertyPost, { qos: 1 });
    cloud.on('message', (topic, payload) => {
      if (topic !== t.propertyPost) return;
      const req = JSON.parse(payload.toString()) as { id: string; params: unknown };
      posts.push(req.params);
      void cloud.publishAsync(t.propertyPostReply, JSON.stringify({ id: req.id, code: 200, data: {} }), { qos: 1 });
    });
    const up = traffic.upstream(meter)!;
    const reply = await up.postProperties({ Temperature: 21.5 }).reply;
    expect(reply.code).toBe(200);
    expect(posts).toEqual([{ Temperature: 21.5 }]);
    // Its TSL, not the gateway's: a mistyped value is refused before anything is sent, naming the field.
    await expect(up.postProperties({ Temperature: 'hot' }).stored).rejects.toThrow(/Temperature/);
    expect(traffic.upstream({ productKey: 'a1Meter', deviceName: 'unknown' })).toBeUndefined();
    await traffic.afterOffline(dir.get(meter.productKey, meter.deviceName)!);
  });
});

describe('owners and refusals', () => {
  const dir = directoryOf({ 'a1Meter/m-01': 'online', 'a1Meter/m-02': 'online', 'a1Meter/m-03': 'disabled', 'a1Meter/m-04': 'loggingIn', 'a1Other/x': 'online' });
  const traffic = createSubDeviceTraffic({ directory: dir, subscriber: { subscribe: async () => undefined, unsubscribe: async () => undefined }, routers: routerDeps(noUplink), claims, logger: pino({ level: 'silent' }) });

  it('a devices claim wins over a products claim', () => {
    expect(traffic.ownerOf(meter)?.owner).toBe('by-product');
    expect(traffic.ownerOf(special)?.owner).toBe('by-device');
    expect(traffic.ownerOf({ productKey: 'a1Other', deviceName: 'x' })).toBeUndefined();
  });

  it('admits an online owned device and refuses the others with the platform codes', () => {
    const ok = traffic.admit(special);
    expect(ok.ok && ok.owner.owner).toBe('by-device');
    const refused = (pk: string, dn: string) => {
      const a = traffic.admit({ productKey: pk, deviceName: dn });
      return a.ok ? undefined : [a.code, a.message];
    };
    expect(refused('a1Meter', 'nope')).toEqual([AlinkCodes.DEVICE_LOOKUP_FAILED, expect.stringContaining('a1Meter/nope')]);
    expect(refused('a1Meter', 'm-03')).toEqual([AlinkCodes.SUB_DEVICE_DISABLED, expect.stringContaining('disabled')]);
    expect(refused('a1Meter', 'm-04')).toEqual([AlinkCodes.SUB_DEVICE_SESSION_ERROR, expect.stringContaining('loggingIn')]);
    expect(refused('a1Other', 'x')).toEqual([AlinkCodes.REQUEST_ERROR, expect.stringContaining('no plugin')]);
  });
});
