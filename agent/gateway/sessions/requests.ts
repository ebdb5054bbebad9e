/**
 * The gateway's requests about its sub-devices (docs/protocol/gateway.md): topology get/add/delete, registration,
 * batch login and logout, each answered on its `_reply` and matched by id through the gateway's upstream. All at
 * QoS 0, never through the outbox: every one is redone after each connect, and a login queued across an outage would
 * be stale when it finally left.
 */
import { AlinkMethods, gatewayTopics, signDevice, type DeviceIdentity, type GatewayTopics, type SignMethod } from '../../../thing-model/wire';
import type { CloudReply } from '../../../handlers/api';
import type { AlinkUpstream } from '../../upstream/upstream';
import type { Secret } from '../../config/secret';

/** A sub-device with the secret its signature needs. */
export interface Signed {
  id: DeviceIdentity;
  secret: Secret;
}

export interface GatewayRequestOptions {
  gateway: DeviceIdentity;
  upstream: AlinkUpstream;
  signMethod: SignMethod;
  cleanSession: boolean;
  /** The platform's time (the corrected clock): signed timestamps must be near it. */
  now: () => number;
  timeoutMs: number;
}

const ident = (d: DeviceIdentity) => ({ productKey: d.productKey, deviceName: d.deviceName });

/** `{productKey, deviceName}` of a platform message, or undefined when it is not one. */
export function identityOf(v: unknown): DeviceIdentity | undefined {
  const o = v as { productKey?: unknown; deviceName?: unknown } | null;
  return o && typeof o.productKey === 'string' && typeof o.deviceName === 'string' ? { productKey: o.productKey, deviceName: o.deviceName } : undefined;
}

/** The reply's `data` as a list of identities (topo/get, the items a topo/add took); [] for anything else. */
export function identities(data: unknown): DeviceIdentity[] {
  return Array.isArray(data) ? data.flatMap((d: unknown) => identityOf(d) ?? []) : [];
}

export class GatewayRequests {
  readonly topics: GatewayTopics;

  constructor(private readonly opts: GatewayRequestOptions) {
    this.topics = gatewayTopics(opts.gateway);
  }

  /** Every reply topic the router must route to the upstream. */
  replyTopics(): string[] {
    const t = this.topics;
    return [t.topoGetReply, t.topoAddReply, t.topoDeleteReply, t.subRegisterReply, t.batchLoginReply, t.batchLogoutReply];
  }

  async topoGet(): Promise<DeviceIdentity[]> {
    return identities((await this.send(this.topics.topoGet, AlinkMethods.TOPO_GET, {})).data);
  }

  /** Resolves with the items the platform added (it answers only those). */
  async topoAdd(items: readonly Signed[]): Promise<DeviceIdentity[]> {
    const params = items.map((s) => {
      const p = this.signed(s);
      // topo/add spells the method `signmethod` (docs/protocol/gateway.md, "Signing").
      return { ...ident(s.id), clientId: p.clientId, timestamp: p.timestamp, signmethod: this.opts.signMethod, sign: p.sign };
    });
    return identities((await this.send(this.topics.topoAdd, AlinkMethods.TOPO_ADD, params)).data);
  }

  async topoDelete(ids: readonly DeviceIdentity[]): Promise<DeviceIdentity[]> {
    return identities((await this.send(this.topics.topoDelete, AlinkMethods.TOPO_DELETE, ids.map(ident))).data);
  }

  /** `thing.sub.register`: the secrets of pre-registered sub-devices of products that allow it. */
  async register(ids: readonly DeviceIdentity[]): Promise<{ id: DeviceIdentity; deviceSecret: string }[]> {
    const r = await this.send(this.topics.subRegister, AlinkMethods.SUB_REGISTER, ids.map(ident));
    if (!Array.isArray(r.data)) return [];
    return r.data.flatMap((d: unknown) => {
      const id = identityOf(d);
      const secret = (d as { deviceSecret?: unknown }).deviceSecret;
      return id && typeof secret === 'string' && secret !== '' ? [{ id, deviceSecret: secret }] : [];
    });
  }

  /** All or nothing (docs/protocol/gateway.md, "Login rules"); rejects with CloudReplyError naming the failing devices in `data`. */
  async batchLogin(items: readonly Signed[]): Promise<void> {
    const deviceList = items.map((s) => {
      const p = this.signed(s);
      return { ...ident(s.id), clientId: p.clientId, timestamp: p.timestamp, cleanSession: String(this.opts.cleanSession), sign: p.sign };
    });
    await this.send(this.topics.batchLogin, AlinkMethods.COMBINE_BATCH_LOGIN, { deviceList, signMethod: this.opts.signMethod });
  }

  async batchLogout(ids: readonly DeviceIdentity[]): Promise<void> {
    await this.send(this.topics.batchLogout, AlinkMethods.COMBINE_BATCH_LOGOUT, ids.map(ident));
  }

  private signed(s: Signed): { clientId: string; timestamp: string; sign: string } {
    const clientId = `${s.id.productKey}.${s.id.deviceName}`;
    const timestamp = String(Math.round(this.opts.now()));
    const sign = signDevice({ ...ident(s.id), deviceSecret: s.secret.reveal(), clientId, timestamp, signMethod: this.opts.signMethod });
    return { clientId, timestamp, sign };
  }

  private send(topic: string, method: string, params: unknown): Promise<CloudReply> {
    return this.opts.upstream.request(topic, method, params, 'gateway', { qos: 0, timeoutMs: this.opts.timeoutMs });
  }
}
