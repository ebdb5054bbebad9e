/**
 * The platform's half of the device-state channels (docs/protocol/desired-shadow.md, docs/protocol/property-get.md):
 * desired values (kept per device with versions, answered on `desired/get`, cleared by `desired/delete`), the
 * shadow (`/shadow/update` answered on `/shadow/get`, cloud updates pushed as `control`) and property get
 * (a request to the device, its `get_reply` awaited). The cloud actions in simulator/api call in here.
 */
import type { Logger } from 'pino';
import { AlinkCodes, isPlainObject } from '../../thing-model';
import { AlinkMethods, MessageIdGenerator, stateTopics } from '../../thing-model/wire';
import type { Registry } from '../registry';
import type { Reachability } from '../state/device-state';
import type { DeviceId } from './acl';
import { parseJson } from './posts';
import { applyShadowRequest, emptyShadow, ShadowCodes, shadowView, type ShadowDocument, type ShadowResult } from './shadow';

export interface DesiredEntry {
  value?: unknown;
  version: number;
  time: number;
}

export interface DeviceChannelOptions {
  registry: Registry;
  logger: Logger;
  send(topic: string, payload: Buffer, qos: 0 | 1): Promise<void>;
  reachability(id: DeviceId): Reachability;
  /** An ordinary property set, as SetDeviceProperty sends it. */
  setProperties(id: DeviceId, items: Record<string, unknown>): Promise<string>;
}

const key = (id: DeviceId) => `${id.productKey}/${id.deviceName}`;
const DESIRED = /^\/sys\/([^/]+)\/([^/]+)\/thing\/property\/desired\/(get|delete)$/;
const SHADOW = /^\/shadow\/update\/([^/]+)\/([^/]+)$/;
const GET_REPLY = /^\/sys\/([^/]+)\/([^/]+)\/thing\/service\/property\/get_reply$/;

export class StateChannels {
  private readonly desired = new Map<string, Map<string, DesiredEntry>>();
  private readonly shadows = new Map<string, ShadowDocument>();
  private readonly waiting = new Map<string, (reply: unknown) => void>();
  private readonly ids = new MessageIdGenerator();

  constructor(private readonly opts: DeviceChannelOptions) {}

  /** DeleteDevice: its desired values and shadow go with it. */
  forget(id: DeviceId): void {
    this.desired.delete(key(id));
    this.shadows.delete(key(id));
  }

  /** Takes the device messages of these channels; false for every other topic. */
  handles(topic: string, payload: Buffer, origin?: DeviceId): boolean {
    let m = DESIRED.exec(topic);
    const id = m ?? SHADOW.exec(topic) ?? GET_REPLY.exec(topic);
    if (!id) return false;
    const device = { productKey: id[1]!, deviceName: id[2]! };
    if ((origin && key(origin) !== key(device)) || !this.opts.registry.device(device.productKey, device.deviceName)) return true;
    if (m) this.onDesired(device, m[3] as 'get' | 'delete', topic, payload);
    else if ((m = SHADOW.exec(topic))) this.onShadow(device, payload);
    else this.onGetReply(payload);
    return true;
  }

  // ---- desired values ---------------------------------------------------------------------------------------

  desiredOf(id: DeviceId): Map<string, DesiredEntry> {
    let d = this.desired.get(key(id));
    if (!d) this.desired.set(key(id), (d = new Map()));
    return d;
  }

  /**
   * SetDeviceDesiredProperty after its checks: stores the values (null clears), bumps each version, and sends an
   * ordinary property set with the non-null values when the device is online. Returns the new versions.
   */
  async setDesired(id: DeviceId, items: Record<string, unknown>): Promise<{ versions: Record<string, number>; messageId?: string }> {
    const d = this.desiredOf(id);
    const versions: Record<string, number> = {};
    const now = Date.now();
    const live: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(items)) {
      const version = (d.get(k)?.version ?? 0) + 1;
      d.set(k, v === null ? { version, time: now } : { value: v, version, time: now });
      versions[k] = version;
      if (v !== null) live[k] = v;
    }
    if (Object.keys(live).length > 0 && this.opts.reachability(id) === 'ONLINE') {
      return { versions, messageId: await this.opts.setProperties(id, live) };
    }
    return { versions };
  }

  private onDesired(id: DeviceId, op: 'get' | 'delete', topic: string, payload: Buffer): void {
    const req = parseJson(payload);
    const method = op === 'get' ? AlinkMethods.PROPERTY_DESIRED_GET : AlinkMethods.PROPERTY_DESIRED_DELETE;
    const obj = req.ok && isPlainObject(req.value) ? req.value : undefined;
    const reply = (code: number, data: unknown, message?: string): void =>
      void this.send(`${topic}_reply`, { id: obj?.id, code, data, ...(message ? { message } : {}), method, version: '1.0' });
    if (!obj || obj.params === undefined) return reply(AlinkCodes.PARAM_ERROR, {}, 'request error: expected {"id", "params"}');
    const d = this.desiredOf(id);
    if (op === 'get') {
      if (!Array.isArray(obj.params) || obj.params.length > 200) return reply(AlinkCodes.PARAM_ERROR, {}, 'params: expected a list of at most 200 identifiers');
      const data: Record<string, unknown> = {};
      for (const p of obj.params) {
        const e = typeof p === 'string' ? d.get(p) : undefined;
        if (e && e.value !== undefined) data[p as string] = { value: e.value, version: e.version };
      }
      return reply(AlinkCodes.SUCCESS, data);
    }
    if (!isPlainObject(obj.params)) return reply(AlinkCodes.PARAM_ERROR, {}, 'params: expected an object of identifiers');
    for (const [k, v] of Object.entries(obj.params)) {
      const e = d.get(k);
      if (!e) continue;
      const want = isPlainObject(v) && typeof v.version === 'number' ? v.version : undefined;
      // With a version: cleared only if nobody set a newer value meanwhile.
      if (want === undefined || want === e.version) d.set(k, { version: e.version, time: Date.now() });
    }
    return reply(AlinkCodes.SUCCESS, {});
  }

  // ---- shadow -----------------------------------------------------------------------------------------------

  shadowOf(id: DeviceId): ShadowDocument {
    return this.shadows.get(key(id)) ?? emptyShadow();
  }

  /** UpdateDeviceShadow: applies the cloud's update and pushes `control` to the device. */
  async updateShadowFromCloud(id: DeviceId, req: Record<string, unknown>): Promise<ShadowResult> {
    const r = applyShadowRequest(this.shadowOf(id), req, true);
    if (!r.ok) return r;
    this.shadows.set(key(id), r.doc);
    const view = shadowView(r.doc);
    await this.sendShadow(id, { method: 'control', payload: { status: 'success', state: view.state, metadata: view.metadata }, version: r.doc.version, timestamp: r.doc.timestamp });
    return r;
  }

  private onShadow(id: DeviceId, payload: Buffer): void {
    const parsed = parseJson(payload);
    const req = parsed.ok && isPlainObject(parsed.value) ? parsed.value : undefined;
    const token = req && typeof req.clientToken === 'string' ? { clientToken: req.clientToken } : {};
    const error = (errorcode: string, errormessage: string) =>
      void this.sendShadow(id, { method: 'reply', payload: { status: 'error', content: { errorcode, errormessage } }, ...token, timestamp: Math.floor(Date.now() / 1000) });
    if (!req) return error(ShadowCodes.BAD_JSON, 'payload: not a JSON object');
    const doc = this.shadowOf(id);
    if (req.method === 'get') {
      const view = shadowView(doc);
      if (doc.version === 0 && Object.keys(view.state as object).length === 0) return error(ShadowCodes.DOCUMENT_EMPTY, 'shadow document is empty');
      return void this.sendShadow(id, { method: 'reply', payload: { status: 'success', state: view.state, metadata: view.metadata }, ...token, version: doc.version, timestamp: doc.timestamp });
    }
    const r = applyShadowRequest(doc, req, false);
    if (!r.ok) return error(r.errorcode, r.errormessage);
    this.shadows.set(key(id), r.doc);
    void this.sendShadow(id, { method: 'reply', payload: { status: 'success', version: r.doc.version }, ...token, version: r.doc.version, timestamp: r.doc.timestamp });
  }

  private sendShadow(id: DeviceId, body: Record<string, unknown>): Promise<void> {
    return this.send(stateTopics(id).shadowGet, body);
  }

  // ---- property get -----------------------------------------------------------------------------------------

  /** Sends `thing.service.property.get` and waits for the device's reply (undefined on timeout). */
  async getProperties(id: DeviceId, identifiers: string[], timeoutMs: number): Promise<unknown> {
    const msgId = this.ids.nextId();
    const answer = new Promise<unknown>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(msgId);
        resolve(undefined);
      }, timeoutMs);
      this.waiting.set(msgId, (r) => {
        clearTimeout(timer);
        this.waiting.delete(msgId);
        resolve(r);
      });
    });
    await this.send(stateTopics(id).propertyGet, { id: msgId, version: '1.0', method: AlinkMethods.PROPERTY_GET, params: identifiers }, 1);
    return answer;
  }

  private onGetReply(payload: Buffer): void {
    const parsed = parseJson(payload);
    if (!parsed.ok || !isPlainObject(parsed.value)) return;
    this.waiting.get(String(parsed.value.id))?.(parsed.value);
  }

  private send(topic: string, body: Record<string, unknown>, qos: 0 | 1 = 0): Promise<void> {
    return this.opts.send(topic, Buffer.from(JSON.stringify(body)), qos).catch((e: Error) => this.opts.logger.warn({ topic, err: e.message }, 'could not send a device-state message'));
  }
}
