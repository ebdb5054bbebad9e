/**
 * The platform's side of a gateway's own topics (docs/protocol/gateway-platform.md): topology add/delete/get,
 * `thing.sub.register` and registration by product secret, sub-device login/logout (single and batch), and the
 * presence of sub-devices, which are online while logged in through an online gateway. Routed by topic, never by
 * `method` (several SDKs omit it).
 */
import type { Logger } from 'pino';
import { AlinkCodes } from '../../thing-model/codes';
import { isPlainObject } from '../../thing-model';
import { AlinkMethods, gatewayTopics, lifecycleTopics } from '../../thing-model/wire';
import type { SimulatorEventBus } from '../events';
import type { DeviceId } from '../mqtt/acl';
import { parseJson } from '../mqtt/posts';
import type { Registry } from '../registry';
import type { DeviceStateStore } from '../state/device-state';
import type { GatewayBook } from './sessions';
import { checkSubDeviceSign } from './sign-check';
import { productRegister } from './product-register';

export interface GatewayChannelOptions {
  registry: Registry;
  state: DeviceStateStore;
  events: SimulatorEventBus;
  logger: Logger;
  book: GatewayBook;
  limits: { maxSubDevices: number; maxOnlineSubDevices: number };
  send(topic: string, payload: Buffer): Promise<void>;
  /** Told of every session start and end (the managed broker's plugin enforces the topic rights from it). */
  onSession?(gw: DeviceId, sub: DeviceId, on: boolean): void;
}

interface Failure {
  code: number;
  message: string;
}

type Item = Record<string, unknown>;
const TOPO_BATCH_MAX = 30;
const LOGIN_BATCH_MAX = 50;
const GW_TOPIC = /^\/(sys|ext\/session)\/([^/]+)\/([^/]+)\/(thing\/topo\/add|thing\/topo\/delete|thing\/topo\/get|thing\/sub\/register|thing\/proxy\/provisioning\/product_register|combine\/login|combine\/logout|combine\/batch_login|combine\/batch_logout)$/;
/** A gateway's answer, on the sub-device's topic, to the notice that ended its session. */
const LIFECYCLE_REPLY = /^\/sys\/[^/]+\/[^/]+\/thing\/(disable|enable|delete)_reply$/;
const ident = (d: DeviceId) => ({ productKey: d.productKey, deviceName: d.deviceName });
const same = (a: DeviceId, b: DeviceId) => a.productKey === b.productKey && a.deviceName === b.deviceName;

export class GatewayChannel {
  constructor(private readonly opts: GatewayChannelOptions) {}

  setSessionHook(hook: (gw: DeviceId, sub: DeviceId, on: boolean) => void): void {
    this.opts.onSession = hook;
  }

  /** True when the message was a gateway request (answered here). */
  uplink(topic: string, payload: Buffer, origin?: DeviceId): boolean {
    const m = GW_TOPIC.exec(topic);
    if (!m) return false;
    const gw = { productKey: m[2]!, deviceName: m[3]! };
    if (origin && !same(origin, gw)) return true;
    if (this.opts.registry.product(gw.productKey)?.nodeType !== 'gateway' || !this.opts.registry.device(gw.productKey, gw.deviceName)) {
      this.opts.logger.debug({ topic }, 'gateway request from a device that is not a gateway ignored');
      return true;
    }
    const parsed = parseJson(payload);
    const req = parsed.ok && isPlainObject(parsed.value) ? parsed.value : undefined;
    const id = req?.id;
    const op = m[4]!;
    const answer = (code: number, data: unknown, message = 'success') =>
      void this.opts
        .send(`${topic}_reply`, Buffer.from(JSON.stringify({ id: id === undefined ? undefined : id, code, data, message, ...(typeof req?.method === 'string' ? { method: req.method } : {}) })))
        .catch(() => undefined);
    if (!req || req.params === undefined) return answer(AlinkCodes.PARAM_ERROR, {}, 'request error: expected "id" and "params"'), true;
    // LinkSDK 4.x sends topo/get params as the string "{}".
    const params = typeof req.params === 'string' ? safeParse(req.params) : req.params;
    const r = this.handle(op, gw, params);
    answer(r.code, r.data, r.message);
    return true;
  }

  private handle(op: string, gw: DeviceId, params: unknown): { code: number; data: unknown; message?: string } {
    switch (op) {
      case 'thing/topo/add':
        return this.topoAdd(gw, params);
      case 'thing/topo/delete':
        return this.topoDelete(gw, params);
      case 'thing/topo/get':
        return { code: AlinkCodes.SUCCESS, data: this.opts.book.subDevicesOf(gw).map(ident) };
      case 'thing/sub/register':
        return this.subRegister(params);
      case 'thing/proxy/provisioning/product_register':
        return productRegister(this.opts.registry, params, this.opts.logger);
      case 'combine/login':
        return isPlainObject(params) ? this.loginBatch(gw, [params], undefined, true) : bad('params: expected an object');
      case 'combine/batch_login': {
        if (!isPlainObject(params) || !Array.isArray(params.deviceList)) return bad('params.deviceList: expected a list');
        return this.loginBatch(gw, params.deviceList, params.signMethod ?? params.signmethod, false);
      }
      case 'combine/logout':
        return isPlainObject(params) ? this.logout(gw, [params], true) : bad('params: expected an object');
      default: {
        // batch_logout: the bare array (Python) or {deviceList} (C4).
        const list = Array.isArray(params) ? params : isPlainObject(params) && Array.isArray(params.deviceList) ? params.deviceList : undefined;
        return list ? this.logout(gw, list, false) : bad('params: expected a list');
      }
    }
  }

  private identity(item: unknown): DeviceId | undefined {
    if (!isPlainObject(item) || typeof item.productKey !== 'string' || typeof item.deviceName !== 'string') return undefined;
    return { productKey: item.productKey, deviceName: item.deviceName };
  }

  private subDevice(item: unknown): { id: DeviceId; secret: string } | Failure {
    const id = this.identity(item);
    if (!id) return { code: AlinkCodes.PARAM_ERROR, message: 'request error: expected productKey and deviceName' };
    const d = this.opts.registry.device(id.productKey, id.deviceName);
    if (!d) return { code: AlinkCodes.DEVICE_LOOKUP_FAILED, message: `sub-device ${id.productKey}/${id.deviceName} not found` };
    return { id, secret: d.deviceSecret };
  }

  private topoAdd(gw: DeviceId, params: unknown): { code: number; data: unknown; message?: string } {
    if (!Array.isArray(params) || params.length === 0 || params.length > TOPO_BATCH_MAX) return bad(`params: expected a list of 1..${TOPO_BATCH_MAX} sub-devices`);
    const added: DeviceId[] = [];
    let first: Failure | undefined;
    for (const item of params) {
      const sub = this.subDevice(item);
      const fail = 'code' in sub ? sub : this.topoAddOne(gw, sub.id, item as Item, sub.secret);
      if (fail) first ??= fail;
      else added.push(ident((sub as { id: DeviceId }).id));
    }
    // Only the successful items come back; with none at all, the first failure's code (docs/protocol/gateway-platform.md).
    if (added.length === 0 && first) return { code: first.code, data: [], message: first.message };
    return { code: AlinkCodes.SUCCESS, data: added };
  }

  private topoAddOne(gw: DeviceId, sub: DeviceId, item: Item, secret: string): Failure | undefined {
    const fail = this.topoCheck(gw, sub, item, secret);
    if (!fail) this.bind(gw, sub);
    return fail;
  }

  /**
   * BatchAddThingTopo: all or nothing (docs/protocol/gateway-platform.md); undefined when every item was bound,
   * else the first failure with nothing changed.
   */
  addTopologyAll(gw: DeviceId, items: Item[]): (Failure & { item: number }) | undefined {
    const subs: DeviceId[] = [];
    for (const [i, item] of items.entries()) {
      const sub = this.subDevice(item);
      const fail = 'code' in sub ? sub : this.topoCheck(gw, sub.id, item, sub.secret, items.length);
      if (fail) return { ...fail, item: i + 1 };
      subs.push((sub as { id: DeviceId }).id);
    }
    for (const sub of subs) this.bind(gw, sub);
    return undefined;
  }

  private bind(gw: DeviceId, sub: DeviceId): void {
    const before = this.opts.book.addTopo(gw, sub);
    if (before && !same(before, gw)) this.endSession(sub, before, false);
  }

  private topoCheck(gw: DeviceId, sub: DeviceId, item: Item, secret: string, adding = 1): Failure | undefined {
    if (same(gw, sub)) return { code: AlinkCodes.GATEWAY_CANNOT_ADD_ITSELF, message: 'a gateway cannot add itself as a sub-device' };
    const v = checkSubDeviceSign(item, secret);
    if (!v.ok) return { code: AlinkCodes.TOPO_SIGN_CHECK_FAILED, message: v.reason };
    const book = this.opts.book;
    const mine = book.gatewayOf(sub);
    if (!(mine && same(mine, gw)) && book.subDevicesOf(gw).length + adding > this.opts.limits.maxSubDevices) {
      return { code: AlinkCodes.GATEWAY_TOO_MANY_SUB_DEVICES, message: `more than ${this.opts.limits.maxSubDevices} sub-devices` };
    }
    return undefined;
  }

  private topoDelete(gw: DeviceId, params: unknown): { code: number; data: unknown; message?: string } {
    if (!Array.isArray(params) || params.length === 0 || params.length > TOPO_BATCH_MAX) return bad(`params: expected a list of 1..${TOPO_BATCH_MAX} sub-devices`);
    const removed: DeviceId[] = [];
    for (const item of params) {
      const id = this.identity(item);
      if (!id || !this.opts.book.removeTopo(id, gw)) continue;
      this.endSession(id, gw, false);
      removed.push(ident(id));
    }
    if (removed.length === 0) return { code: AlinkCodes.NO_TOPOLOGY, data: [], message: 'no such topology' };
    return { code: AlinkCodes.SUCCESS, data: removed };
  }

  private subRegister(params: unknown): { code: number; data: unknown; message?: string } {
    if (!Array.isArray(params) || params.length === 0 || params.length > TOPO_BATCH_MAX) return bad(`params: expected a list of 1..${TOPO_BATCH_MAX} sub-devices`);
    const out: unknown[] = [];
    for (const item of params) {
      const sub = this.subDevice(item);
      if ('code' in sub) return { code: sub.code, data: [], message: sub.message };
      if (!this.opts.registry.product(sub.id.productKey)?.dynamicRegistration) {
        return { code: AlinkCodes.DYNAMIC_REGISTRATION_OFF, data: [], message: `dynamic registration is off for product ${sub.id.productKey}` };
      }
      const d = this.opts.registry.device(sub.id.productKey, sub.id.deviceName)!;
      out.push({ iotId: d.iotId, productKey: d.productKey, deviceName: d.deviceName, deviceSecret: d.deviceSecret });
    }
    return { code: AlinkCodes.SUCCESS, data: out };
  }

  /** All or nothing: every item is checked before any is logged in (docs/protocol/gateway-platform.md). */
  private loginBatch(gw: DeviceId, list: unknown[], batchMethod: unknown, single: boolean): { code: number; data: unknown; message?: string } {
    if (list.length === 0 || list.length > LOGIN_BATCH_MAX) return bad(`params.deviceList: expected 1..${LOGIN_BATCH_MAX} sub-devices`);
    const subs: DeviceId[] = [];
    for (const item of list) {
      const sub = this.subDevice(item);
      const fail = 'code' in sub ? sub : this.loginCheck(gw, sub.id, item as Item, sub.secret, batchMethod);
      if (fail) {
        const id = this.identity(item);
        return { code: fail.code, data: single ? (id ? ident(id) : {}) : id ? [ident(id)] : [], message: fail.message };
      }
      subs.push((sub as { id: DeviceId }).id);
    }
    const book = this.opts.book;
    const already = new Set(book.onlineThrough(gw).map((d) => `${d.productKey}/${d.deviceName}`));
    const fresh = subs.filter((s) => !already.has(`${s.productKey}/${s.deviceName}`));
    if (already.size + fresh.length > this.opts.limits.maxOnlineSubDevices) {
      return { code: AlinkCodes.TOO_MANY_SUB_DEVICES_ONLINE, data: single ? ident(subs[0]!) : subs.map(ident), message: `more than ${this.opts.limits.maxOnlineSubDevices} sub-devices online` };
    }
    const gwState = this.opts.state.peek(gw.productKey, gw.deviceName);
    for (const sub of subs) {
      book.login(gw, sub);
      this.opts.onSession?.(gw, sub, true);
      // The sub-device rides the gateway's connection: its keepalive and clientId bits (ext) are the gateway's.
      this.opts.state.markOnline(sub.productKey, sub.deviceName, { keepalive: gwState?.keepalive, clientParams: gwState?.clientParams }, Date.now());
      this.opts.logger.info({ device: `${sub.productKey}/${sub.deviceName}`, gateway: `${gw.productKey}/${gw.deviceName}` }, 'sub-device online');
      this.opts.events.emit('deviceOnline', { ...ident(sub), gateway: ident(gw) });
    }
    return { code: AlinkCodes.SUCCESS, data: single ? ident(subs[0]!) : subs.map(ident) };
  }

  private loginCheck(gw: DeviceId, sub: DeviceId, item: Item, secret: string, batchMethod: unknown): Failure | undefined {
    const topoGw = this.opts.book.gatewayOf(sub);
    if (!topoGw || !same(topoGw, gw)) return { code: AlinkCodes.NO_TOPOLOGY, message: `no topology between ${gw.productKey}/${gw.deviceName} and ${sub.productKey}/${sub.deviceName}` };
    const v = checkSubDeviceSign(item, secret, batchMethod);
    if (!v.ok) return { code: AlinkCodes.SUB_DEVICE_BAD_SIGN, message: v.reason };
    if (this.opts.registry.device(sub.productKey, sub.deviceName)?.disabled) return { code: AlinkCodes.DEVICE_DISABLED, message: `${sub.productKey}/${sub.deviceName} is disabled` };
    // A sub-device with a live connection of its own cannot also be logged in through a gateway.
    const direct = this.opts.state.peek(sub.productKey, sub.deviceName);
    if (direct?.status === 'ONLINE' && !this.opts.book.sessionOf(sub)) {
      return { code: AlinkCodes.SUB_DEVICE_DUPLICATE_LOGIN, message: `${sub.productKey}/${sub.deviceName} is online on a connection of its own` };
    }
    return undefined;
  }

  private logout(gw: DeviceId, list: unknown[], single: boolean): { code: number; data: unknown; message?: string } {
    if (list.length === 0 || list.length > LOGIN_BATCH_MAX) return bad(`params: expected 1..${LOGIN_BATCH_MAX} sub-devices`);
    const ids: DeviceId[] = [];
    for (const item of list) {
      const id = this.identity(item);
      if (!id) return bad('params: expected productKey and deviceName');
      ids.push(id);
    }
    for (const id of ids) this.endSession(id, gw, true);
    return { code: AlinkCodes.SUCCESS, data: single ? ident(ids[0]!) : ids.map(ident) };
  }

  /** Ends a sub-device's session through `gw`; offline at once when `graceful` (logout), else per the gateway's end. */
  endSession(sub: DeviceId, gw: DeviceId, graceful: boolean): void {
    if (!this.opts.book.logout(sub, gw)) return;
    this.opts.onSession?.(gw, sub, false);
    this.opts.state.markOffline(sub.productKey, sub.deviceName, graceful, Date.now());
    this.opts.logger.info({ device: `${sub.productKey}/${sub.deviceName}`, gateway: `${gw.productKey}/${gw.deviceName}` }, 'sub-device offline');
    this.opts.events.emit('deviceOffline', { ...ident(sub), graceful, gateway: ident(gw) });
  }

  /**
   * The platform loses a sub-device's session without telling its gateway: offline at once, and the gateway hears
   * 520 the next time it publishes for it (docs/protocol/gateway-platform.md). False when it had no session.
   */
  loseSession(sub: DeviceId): boolean {
    const gw = this.opts.book.sessionOf(sub);
    if (!gw) return false;
    this.endSession(sub, gw, false);
    return true;
  }

  /** The gateway's connection ended: its sub-devices go offline with it and their sessions end. */
  gatewayGone(gw: DeviceId, graceful: boolean): void {
    for (const sub of this.opts.book.onlineThrough(gw)) this.endSession(sub, gw, graceful);
  }

  /** A sub-device connected on its own: its gateway session ends, and the gateway hears 527 (duplicate login). */
  directLogin(id: DeviceId): void {
    const gw = this.opts.book.sessionOf(id);
    if (!gw) return;
    this.endSession(id, gw, true);
    this.notifyError(gw, id, AlinkCodes.SUB_DEVICE_DUPLICATE_LOGIN, 'sub-device logged in by another connection');
  }

  /** NotifyAddThingTopo: asks the gateway to add topology for these sub-devices (`topo/add/notify`) [DOC-m]. */
  async notifyAdd(gw: DeviceId, subs: DeviceId[]): Promise<string> {
    const id = String(Date.now());
    const body = { id, version: '1.0', method: AlinkMethods.TOPO_ADD_NOTIFY, params: subs.map(ident) };
    await this.opts.send(gatewayTopics(gw).topoAddNotify, Buffer.from(JSON.stringify(body)));
    return id;
  }

  /** An `/ext/error` notice on the gateway's topic naming the sub-device. */
  notifyError(gw: DeviceId, sub: DeviceId, code: number, message: string): void {
    const body = { id: String(Date.now()), code, message, data: ident(sub) };
    void this.opts.send(lifecycleTopics(gw).extError, Buffer.from(JSON.stringify(body))).catch(() => undefined);
  }

  /**
   * What the gateway `origin` publishes on a sub-device's topic: the sub-device itself when it is logged in through
   * that gateway; otherwise undefined, and the gateway hears 521 for a sub-device deleted from it, 522 for a
   * disabled one of its topology, else 520 (no session) [DOC-codes]. Its answer to the `thing.disable` /
   * `thing.delete` notice that ended the session is taken quietly. [POLICY]
   */
  actingFor(origin: DeviceId, owner: DeviceId, topic: string): DeviceId | undefined {
    const book = this.opts.book;
    const gw = book.sessionOf(owner);
    if (gw && same(gw, origin)) return owner;
    if (LIFECYCLE_REPLY.test(topic)) return undefined;
    const d = this.opts.registry.device(owner.productKey, owner.deviceName);
    const deletedFrom = d ? undefined : book.deletedFrom(owner);
    const topoGw = book.gatewayOf(owner);
    if (deletedFrom && same(deletedFrom, origin)) this.notifyError(origin, owner, AlinkCodes.SUB_DEVICE_DELETED, 'sub-device deleted');
    else if (d?.disabled && topoGw && same(topoGw, origin)) this.notifyError(origin, owner, AlinkCodes.SUB_DEVICE_DISABLED, 'sub-device disabled');
    else this.notifyError(origin, owner, AlinkCodes.SUB_DEVICE_SESSION_ERROR, 'sub-device session error: not logged in through this gateway');
    return undefined;
  }
}

function bad(message: string): { code: number; data: unknown; message: string } {
  return { code: AlinkCodes.PARAM_ERROR, data: {}, message: `request error: ${message}` };
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

