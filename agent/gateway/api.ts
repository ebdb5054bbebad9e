/**
 * `ctx.gateway` (handlers/api/gateway.ts, GatewayApi): what a driver plugin does with its sub-devices at run time.
 * Every change is on record in the store before the promise resolves; topology and login follow in the sessions' next
 * round when the gateway is connected.
 */
import type { CompiledThingModel } from '../../thing-model';
import type { DeviceIdentity } from '../../thing-model/wire';
import type { GatewayApi, SubDeviceSpec, SubDeviceStatus, Upstream } from '../../handlers/api';
import { Secret } from '../config/secret';
import { ValidationError } from '../../thing-model/codes';
import { AlinkMethods, gatewayTopics } from '../../thing-model/wire';
import type { AlinkUpstream } from '../upstream/upstream';
import { rejectedPost } from '../upstream/handles';
import { checkPack } from './traffic/pack-post';
import { subDeviceKey, type SubDeviceEntry } from './directory';
import { GatewayErrors } from './errors';
import type { GatewaySessions } from './sessions/engine';
import type { SubDeviceRecords } from './sessions/records';
import type { SubDeviceStore } from './sessions/store';
import type { GatewayRequests } from './sessions/requests';
import type { SubDeviceTrafficSide } from './traffic';

export interface GatewayApiDeps {
  gateway: DeviceIdentity;
  records: SubDeviceRecords;
  sessions: GatewaySessions;
  requests: GatewayRequests;
  traffic: SubDeviceTrafficSide;
  store: SubDeviceStore;
  models: ReadonlyMap<string, CompiledThingModel>;
  connected: () => boolean;
  /** The gateway's own upstream: the pack post goes on the gateway's topic. */
  upstream: AlinkUpstream;
  /** The agent's corrected clock (the pack post's default `time`). */
  now: () => number;
}

const NAME = /^[A-Za-z0-9_@.:-]{4,32}$/;
const PRODUCT = /^[A-Za-z0-9]+$/;

/** A status without the entry's model (what plugins see). */
export function statusOf(e: SubDeviceEntry): SubDeviceStatus {
  return { productKey: e.productKey, deviceName: e.deviceName, state: e.state, ...(e.reason !== undefined ? { reason: e.reason } : {}), ...(e.owner !== undefined ? { owner: e.owner } : {}) };
}

export function createGatewayApi(d: GatewayApiDeps): GatewayApi {
  const known = (device: DeviceIdentity) => {
    const r = d.records.record(device);
    if (!r) throw GatewayErrors.unknownDevice(subDeviceKey(device));
    return r;
  };
  return {
    async add(spec: SubDeviceSpec): Promise<SubDeviceStatus> {
      if (typeof spec?.productKey !== 'string' || !PRODUCT.test(spec.productKey)) throw GatewayErrors.invalid('productKey', 'a product key of letters and digits', JSON.stringify(spec?.productKey));
      if (typeof spec.deviceName !== 'string' || !NAME.test(spec.deviceName)) throw GatewayErrors.invalid('deviceName', '4..32 characters of letters, digits, - _ @ . :', JSON.stringify(spec.deviceName));
      if (spec.deviceSecret !== undefined && (typeof spec.deviceSecret !== 'string' || spec.deviceSecret === '')) throw GatewayErrors.invalid('deviceSecret', 'a non-empty string or nothing', 'a value that is not shown');
      if (spec.productKey === d.gateway.productKey && spec.deviceName === d.gateway.deviceName) throw GatewayErrors.invalid('deviceName', 'a device behind the gateway', 'the gateway itself');
      const model = d.models.get(spec.productKey);
      if (!model) throw GatewayErrors.unknownProduct(spec.productKey, [...d.models.keys()]);
      const id = { productKey: spec.productKey, deviceName: spec.deviceName };
      const had = d.records.record(id);
      const r = had ?? d.records.add({ id, model, secret: undefined, added: true, topology: false, disabled: false });
      if (spec.deviceSecret !== undefined) r.secret = new Secret(spec.deviceSecret);
      // A device given up on (refused, topology removed by the cloud) is tried again when a driver adds it anew.
      if (had && r.entry.state === 'failed') d.records.setState(r, 'pending', 'added again');
      await d.sessions.persist(r);
      d.sessions.kick();
      return statusOf(r.entry);
    },
    async remove(device) {
      const r = known(device);
      await d.sessions.logout(r, 'offline', 'removed');
      if (r.topology && d.connected()) {
        await d.requests.topoDelete([r.id]).catch(() => undefined);
      }
      d.records.remove(r);
      d.traffic.forget(r.id);
      await d.store.delete(r.id.productKey, r.id.deviceName);
    },
    async setReachable(device, reachable) {
      const r = known(device);
      if (r.reachable === reachable) return;
      r.reachable = reachable;
      if (!reachable) return d.sessions.logout(r, 'offline', 'reported lost by its driver');
      d.sessions.kick();
    },
    status: (device) => {
      const e = d.records.get(device.productKey, device.deviceName);
      return e ? statusOf(e) : undefined;
    },
    list: () => d.records.list().map(statusOf),
    upstream(device): Upstream {
      const up = d.traffic.upstream(device);
      if (!up) throw GatewayErrors.unknownDevice(subDeviceKey(device));
      return up;
    },
    model: (productKey) => d.models.get(productKey),
    postPack(entries, opts) {
      const params = checkPack(entries, (dev) => d.records.get(dev.productKey, dev.deviceName)?.model, Math.round(d.now()));
      if (params instanceof ValidationError) return rejectedPost(params);
      return d.upstream.request(gatewayTopics(d.gateway).packPost, AlinkMethods.PROPERTY_PACK_POST, params, 'property', opts);
    },
  };
}
