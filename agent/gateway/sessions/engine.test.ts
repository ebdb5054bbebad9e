/**
 * The sessions' rounds against a scripted platform (the requests are fakes; the records, the store, the pacing and
 * the state machine are the real ones): topology, registration, logins in batches, and what each refusal does.
 */
import pino from 'pino';
import { AlinkCodes, CloudReplyError } from '../../../thing-model/codes';
import { compileThingModel, loadThingModelFile } from '../../../thing-model';
import type { DeviceIdentity } from '../../../thing-model/wire';
import { Secret } from '../../config/secret';
import { validateConfig } from '../../config/load';
import { subDeviceKey } from '../directory';
import type { SubDeviceTrafficSide } from '../traffic';
import { GatewaySessions } from './engine';
import { SubDeviceRecords } from './records';
import type { GatewayRequests, Signed } from './requests';
import { MemorySubDeviceStore } from './store';
import { join } from 'node:path';

const TSL = join(__dirname, '..', '..', '..', 'simulator', 'tsl');
const model = compileThingModel(loadThingModelFile(join(TSL, 'example-sensor.json')));
const id = (dn: string): DeviceIdentity => ({ productKey: 'a1SubDemo01', deviceName: dn });

/** The platform as the fake sees it: topology, secrets for registration, and refusals to play once. */
class FakePlatform {
  topo = new Set<string>();
  online = new Set<string>();
  calls: string[] = [];
  loginRefusals: { code: number; device?: string }[] = [];
  failNextTopoGet = false;
  secrets = new Map<string, string>();

  requests(): GatewayRequests {
    return {
      topoGet: async () => {
        this.calls.push('topoGet');
        if (this.failNextTopoGet) {
          this.failNextTopoGet = false;
          throw new Error('no reply within 100 ms');
        }
        return [...this.topo].map((k) => id(k.split('/')[1]!));
      },
      topoAdd: async (items: readonly Signed[]) => {
        this.calls.push(`topoAdd ${items.length}`);
        for (const i of items) this.topo.add(subDeviceKey(i.id));
        return items.map((i) => i.id);
      },
      topoDelete: async (ids: readonly DeviceIdentity[]) => {
        this.calls.push(`topoDelete ${ids.length}`);
        for (const i of ids) this.topo.delete(subDeviceKey(i));
        return [...ids];
      },
      register: async (ids: readonly DeviceIdentity[]) => {
        this.calls.push(`register ${ids.length}`);
        return ids.flatMap((i) => (this.secrets.has(i.deviceName) ? [{ id: i, deviceSecret: this.secrets.get(i.deviceName)! }] : []));
      },
      batchLogin: async (items: readonly Signed[]) => {
        this.calls.push(`login ${items.map((i) => i.id.deviceName).join(',')}`);
        const refusal = this.loginRefusals.shift();
        if (refusal) throw new CloudReplyError(refusal.code, `refused ${refusal.code}`, refusal.device ? [id(refusal.device)] : []);
        for (const i of items) {
          if (!this.topo.has(subDeviceKey(i.id))) throw new CloudReplyError(AlinkCodes.NO_TOPOLOGY, 'no topology', [i.id]);
        }
        for (const i of items) this.online.add(subDeviceKey(i.id));
      },
      batchLogout: async (ids: readonly DeviceIdentity[]) => {
        this.calls.push(`logout ${ids.length}`);
        for (const i of ids) this.online.delete(subDeviceKey(i));
      },
    } as unknown as GatewayRequests;
  }
}

function setup(names: string[], opts: { withSecret?: (dn: string) => boolean; gateway?: Record<string, unknown> } = {}) {
  const platform = new FakePlatform();
  const records = new SubDeviceRecords(() => 'driver');
  const store = new MemorySubDeviceStore();
  const subscribed: string[] = [];
  const traffic = {
    beforeOnline: async (e: { key: string }) => void subscribed.push(e.key),
    afterOffline: async (e: { key: string }) => void subscribed.splice(subscribed.indexOf(e.key), 1),
  } as unknown as SubDeviceTrafficSide;
  const config = validateConfig({
    device: { productKey: 'a1GwDemo01', deviceName: 'gw-001', secret: 'x' },
    broker: { url: 'mqtt://127.0.0.1:1883' },
    thingModel: { path: join(TSL, 'example-gateway.json') },
    gateway: { loginBatchSize: 2, retry: { initialMs: 100, maxMs: 200 }, dynamicRegistration: true, ...opts.gateway },
  }).gateway;
  for (const dn of names) {
    records.add({ id: id(dn), model, secret: (opts.withSecret ?? (() => true))(dn) ? new Secret('s3cret') : undefined, added: false, topology: false, disabled: false });
  }
  const sessions = new GatewaySessions({ records, requests: platform.requests(), traffic, store, config, logger: pino({ level: 'silent' }) });
  const state = (dn: string) => records.get('a1SubDemo01', dn)?.state;
  const settle = async () => {
    for (let i = 0; i < 50 && (await Promise.race([sessions.idle().then(() => true), new Promise((r) => setTimeout(() => r(false), 20))])) === false; i++);
    await sessions.idle();
  };
  return { platform, records, store, sessions, subscribed, state, settle };
}

describe('gateway sessions', () => {
  it('reconciles, adds the missing topology, logs in in batches, and subscribes before reporting online', async () => {
    const s = setup(['m-1', 'm-2', 'm-3']);
    s.platform.topo.add('a1SubDemo01/m-1');
    s.sessions.onConnected();
    await s.settle();
    expect(s.platform.calls).toEqual(['topoGet', 'topoAdd 2', 'login m-1,m-2', 'login m-3']);
    expect(['m-1', 'm-2', 'm-3'].map(s.state)).toEqual(['online', 'online', 'online']);
    expect(s.subscribed.sort()).toEqual(['a1SubDemo01/m-1', 'a1SubDemo01/m-2', 'a1SubDemo01/m-3']);
    expect(s.store.list().every((r) => r.topology)).toBe(true);
    s.sessions.stop();
  });

  it('a refused batch: the named device gets what its code says, the others are logged in again', async () => {
    const s = setup(['m-1', 'm-2', 'm-3', 'm-4']);
    s.platform.loginRefusals.push({ code: AlinkCodes.SUB_DEVICE_BAD_SIGN, device: 'm-2' }, { code: AlinkCodes.DEVICE_DISABLED, device: 'm-3' });
    s.sessions.onConnected();
    await s.settle();
    expect(s.state('m-2')).toBe('failed');
    expect(s.records.get('a1SubDemo01', 'm-2')?.reason).toMatch(/^login refused: 6287/);
    expect(s.state('m-3')).toBe('disabled');
    expect(s.store.list().find((r) => r.deviceName === 'm-3')?.disabled).toBe(true);
    expect([s.state('m-1'), s.state('m-4')]).toEqual(['online', 'online']);
    s.sessions.stop();
  });

  it('a device disabled before is tried again after a connect: enabled meanwhile, it logs in; still disabled, 6204 keeps it so', async () => {
    const s = setup(['m-1', 'm-2']);
    for (const dn of ['m-1', 'm-2']) {
      const r = s.records.record(id(dn))!;
      r.disabled = true;
      s.records.setState(r, 'disabled', 'disabled by the cloud');
    }
    s.platform.loginRefusals.push({ code: AlinkCodes.DEVICE_DISABLED, device: 'm-2' });
    s.sessions.onConnected();
    await s.settle();
    expect([s.state('m-1'), s.state('m-2')]).toEqual(['online', 'disabled']);
    expect(s.store.list().find((r) => r.deviceName === 'm-2')?.disabled).toBe(true);
    s.sessions.stop();
  });

  it('no topology (6401): the topology is added again and the device logged in', async () => {
    const s = setup(['m-1']);
    s.platform.topo.add('a1SubDemo01/m-1');
    s.sessions.onConnected();
    await s.settle();
    // Removed behind the agent's back, then the session lost.
    s.platform.topo.clear();
    s.records.setState(s.records.record(id('m-1'))!, 'offline', '520 lost');
    s.platform.calls.length = 0;
    s.sessions.kick();
    await s.settle();
    expect(s.platform.calls).toEqual(['login m-1', 'topoAdd 1', 'login m-1']);
    expect(s.state('m-1')).toBe('online');
    s.sessions.stop();
  });

  it('registers the devices without a secret and keeps the secret in the store', async () => {
    const s = setup(['m-1', 'm-2'], { withSecret: (dn) => dn === 'm-1' });
    s.platform.secrets.set('m-2', 'registered-secret');
    s.sessions.onConnected();
    await s.settle();
    expect(s.platform.calls.slice(0, 2)).toEqual(['topoGet', 'register 1']);
    expect(s.store.list().find((r) => r.deviceName === 'm-2')?.secret).toBe('registered-secret');
    // A configured secret is never written to the store.
    expect(s.store.list().find((r) => r.deviceName === 'm-1')?.secret).toBeUndefined();
    expect([s.state('m-1'), s.state('m-2')]).toEqual(['online', 'online']);
    s.sessions.stop();
  });

  it('a round that fails for a reason a retry can fix is retried with backoff', async () => {
    const s = setup(['m-1']);
    s.platform.failNextTopoGet = true;
    s.sessions.onConnected();
    await s.settle();
    expect(s.state('m-1')).toBe('pending');
    await new Promise((r) => setTimeout(r, 150));
    await s.settle();
    expect(s.platform.calls).toEqual(['topoGet', 'topoGet', 'topoAdd 1', 'login m-1']);
    expect(s.state('m-1')).toBe('online');
    s.sessions.stop();
  });

  it('a disconnect takes every sub-device offline; the next connect logs them in again', async () => {
    const s = setup(['m-1', 'm-2']);
    s.sessions.onConnected();
    await s.settle();
    s.sessions.onDisconnected();
    expect([s.state('m-1'), s.state('m-2')]).toEqual(['offline', 'offline']);
    expect(s.records.get('a1SubDemo01', 'm-1')?.reason).toBe('gateway disconnected');
    s.platform.calls.length = 0;
    s.sessions.onConnected();
    await s.settle();
    expect(s.platform.calls).toEqual(['topoGet', 'login m-1,m-2']);
    expect([s.state('m-1'), s.state('m-2')]).toEqual(['online', 'online']);
    s.sessions.stop();
  });

  it('pruneTopology deletes cloud topology the agent does not know; without it, it is kept', async () => {
    const kept = setup(['m-1']);
    kept.platform.topo.add('a1SubDemo01/stranger');
    kept.sessions.onConnected();
    await kept.settle();
    expect(kept.platform.topo.has('a1SubDemo01/stranger')).toBe(true);
    kept.sessions.stop();
    const pruned = setup(['m-1'], { gateway: { pruneTopology: true } });
    pruned.platform.topo.add('a1SubDemo01/stranger');
    pruned.sessions.onConnected();
    await pruned.settle();
    expect(pruned.platform.topo.has('a1SubDemo01/stranger')).toBe(false);
    expect(pruned.platform.calls).toContain('topoDelete 1');
    pruned.sessions.stop();
  });
});
