/**
 * The platform's answers to what a device posts: property posts, event posts (in the documented
 * `{"value": {...}, "time": ms}` form and in the bare form the official SDKs' examples send) and LinkSDK's batch
 * post (docs/protocol/sdk-compat.md) and the history post (docs/protocol/history-post.md). Each is answered on `{topic}_reply` with 200 or the cloud's code for the
 * first problem; valid posts update the last values and the event ring.
 */
import type { Logger } from 'pino';
import { AlinkCodes, isPlainObject, MAX_POST_PROPERTIES } from '../../thing-model';
import type { CompiledThingModel, EventDef, PropertyDef } from '../../thing-model';
import { AlinkMethods, eventMethod, PACK_POST_LIMITS } from '../../thing-model/wire';
import type { Registry } from '../registry';
import type { DeviceStateStore } from '../state/device-state';
import type { SimulatorEventBus } from '../events';
import type { DeviceId } from './acl';
import { cloudCodeFor } from './cloud-codes';

export interface PostsOptions {
  registry: Registry;
  state: DeviceStateStore;
  events: SimulatorEventBus;
  logger: Logger;
  /** Publishes a reply (QoS 0). */
  send(topic: string, payload: Buffer): Promise<void>;
  /** The gateway a sub-device has topology with (the pack post's check). */
  gatewayOf?: (sub: DeviceId) => DeviceId | undefined;
}

interface Verdict {
  code: number;
  message: string;
}

const OK: Verdict = { code: AlinkCodes.SUCCESS, message: 'success' };

/** A batch or history post as checked: the verdict, and what to store when it is 200 (values per property, events). */
interface TimedCheck {
  verdict: Verdict;
  properties: [string, unknown[]][];
  events: { event: EventDef; value: unknown; time: number }[];
}

export function parseJson(payload: Buffer): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(payload.toString('utf8')) };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

export class Posts {
  constructor(private readonly opts: PostsOptions) {}

  private model(id: DeviceId): CompiledThingModel {
    return this.opts.registry.product(id.productKey)!.model;
  }

  /** Answers on `{request topic}_reply` unless the request asked for no reply (`sys.ack: 0`). */
  private replyTo(topic: string, req: Record<string, unknown> | undefined, method: string, v: Verdict): void {
    const sys = req && isPlainObject(req.sys) ? req.sys : undefined;
    if (sys && sys.ack === 0) return;
    const reply: Record<string, unknown> = { code: v.code, data: {} };
    // The official device SDK matches replies by the request id, byte for byte (docs/protocol/sdk-compat.md).
    if (req && req.id !== undefined) reply.id = req.id;
    reply.message = v.message;
    reply.method = method;
    reply.version = '1.0';
    this.opts.send(`${topic}_reply`, Buffer.from(JSON.stringify(reply))).catch((e: Error) =>
      this.opts.logger.warn({ topic, err: e.message }, 'could not send a post reply'),
    );
  }

  /** Parses an upstream Alink request; on failure answers 460 (without an id when there is none to echo). */
  private parseRequest(topic: string, payload: Buffer, method: string): Record<string, unknown> | undefined {
    const parsed = parseJson(payload);
    if (!parsed.ok || !isPlainObject(parsed.value)) {
      const why = parsed.ok ? 'the payload is JSON but not an object' : `the payload is not JSON (${parsed.error})`;
      this.replyTo(topic, undefined, method, { code: AlinkCodes.PARAM_ERROR, message: `request error: ${why}` });
      return undefined;
    }
    const req = parsed.value;
    if (req.id === undefined || req.params === undefined) {
      const keys = Object.keys(req).join(', ') || 'none';
      this.replyTo(topic, req, method, { code: AlinkCodes.PARAM_ERROR, message: `request error: expected "id" and "params", received keys ${keys}` });
      return undefined;
    }
    if (req.method !== undefined && req.method !== method) {
      const message = `method: expected "${method}" on ${topic}, received ${JSON.stringify(req.method)}`;
      this.replyTo(topic, req, method, { code: AlinkCodes.TSL_METHOD_NOT_EXIST, message });
      return undefined;
    }
    return req;
  }

  propertyPost(id: DeviceId, topic: string, payload: Buffer): void {
    const method = AlinkMethods.PROPERTY_POST;
    const req = this.parseRequest(topic, payload, method);
    if (!req) return;
    const params = req.params;
    const v = this.checkProperties(id, params);
    if (v.code === AlinkCodes.SUCCESS) this.storeProperties(id, params as Record<string, unknown>, Date.now());
    this.replyTo(topic, req, method, v);
    this.opts.events.emit('propertyPost', { ...id, id: String(req.id), params, code: v.code, ...(v.code === AlinkCodes.SUCCESS ? {} : { message: v.message }) });
  }

  private checkProperties(id: DeviceId, params: unknown): Verdict {
    if (!isPlainObject(params)) return { code: AlinkCodes.TSL_PARAMS_NOT_OBJECT, message: 'params: expected an object of property identifiers and values' };
    const n = Object.keys(params).length;
    if (n === 0) return { code: AlinkCodes.TSL_PARAMS_EMPTY, message: 'params: expected at least one property, received none' };
    if (n > MAX_POST_PROPERTIES) return { code: AlinkCodes.POST_TOO_MANY_PROPERTIES, message: `params: expected at most ${MAX_POST_PROPERTIES} properties, received ${n}` };
    const model = this.model(id);
    const v = model.validatePropertyPost(params);
    return v.ok ? OK : { code: cloudCodeFor(v.errors[0], model.model.properties, 'property'), message: v.message };
  }

  private storeProperties(id: DeviceId, params: Record<string, unknown>, now: number): void {
    const model = this.model(id);
    const st = this.opts.state.get(id.productKey, id.deviceName);
    const props = st.properties;
    for (const [identifier, raw] of Object.entries(params)) {
      // A reported value is either bare or {"value": v, "time": ms} (docs/protocol/sdk-compat.md).
      const timed = timedForm(raw, model.property(identifier)!);
      const value = timed ? timed.value : raw;
      const time = timed && typeof timed.time === 'number' ? timed.time : now;
      this.opts.state.recordValue(st, identifier, { value, time });
      const before = props.get(identifier);
      // A batch may carry older values after newer ones: the last value is the one with the latest time.
      if (!before || before.time <= time) props.set(identifier, { value, time });
    }
  }

  eventPost(id: DeviceId, eventId: string, topic: string, payload: Buffer): void {
    const method = eventMethod(eventId);
    const req = this.parseRequest(topic, payload, method);
    if (!req) return;
    const params = req.params;
    const event = this.model(id).event(eventId);
    let v: Verdict;
    if (!event) {
      v = { code: AlinkCodes.TSL_METHOD_NOT_EXIST, message: `method: ${method} is not an event of product ${id.productKey}` };
    } else if (!isPlainObject(params)) {
      v = { code: AlinkCodes.PARAM_ERROR, message: `params: expected {"value": {...}, "time": ms} or the event's output members, received ${typeName(params)}` };
    } else {
      const form = this.eventForm(id, event, params);
      v = form.verdict;
      if (v.code === AlinkCodes.SUCCESS) this.storeEvent(id, event, form.value, typeof form.time === 'number' ? form.time : Date.now());
    }
    this.replyTo(topic, req, method, v);
    this.opts.events.emit('eventPost', { ...id, eventId, id: String(req.id), params, code: v.code, ...(v.code === AlinkCodes.SUCCESS ? {} : { message: v.message }) });
  }

  /**
   * Which form an event's params are in: `{value: {...}, time?}` (documented) or the output members themselves
   * (the SDKs' examples). An object that fits both readings is taken as the one that validates, wrapped first.
   */
  private eventForm(id: DeviceId, event: EventDef, params: Record<string, unknown>, where = 'params'): { verdict: Verdict; value: unknown; time?: unknown } {
    const model = this.model(id);
    const judge = (value: unknown, field: string): Verdict => {
      const r = model.validateEventOutput(event.identifier, value);
      if (r.ok) return OK;
      return { code: cloudCodeFor(r.errors[0], event.outputData, 'event'), message: `${field}: ${r.message}` };
    };
    const wrapped = 'value' in params && isPlainObject(params.value) && Object.keys(params).every((k) => k === 'value' || k === 'time');
    if (wrapped) {
      const w = judge(params.value, `${where}.value`);
      if (w.code === AlinkCodes.SUCCESS || !event.outputData.some((o) => o.identifier === 'value')) return { verdict: w, value: params.value, time: params.time };
    }
    return { verdict: judge(params, where), value: params };
  }

  private storeEvent(id: DeviceId, event: EventDef, value: unknown, time: number): void {
    this.opts.state.get(id.productKey, id.deviceName).events.push({
      identifier: event.identifier,
      eventType: event.type,
      name: event.name,
      outputData: JSON.stringify(value),
      time,
    });
  }

  /**
   * LinkSDK's batch post: `params = {properties: {id: [{value, time}...]}, events: {id: [{value: {...}, time}...]}}`
   * (docs/protocol/sdk-compat.md). All or nothing: one bad entry refuses the whole post.
   */
  batchPost(id: DeviceId, topic: string, payload: Buffer): void {
    this.timedPost(id, topic, payload, AlinkMethods.PROPERTY_BATCH_POST, (params) => this.checkBatch(id, params), 'batchPost');
  }

  /**
   * `thing.event.property.history.post` (docs/protocol/history-post.md): `params` is a list of per-device blocks
   * `{identity, properties: [{id: {value, time}}...], events: [{id: {value, time}}...]}`, `time` required. A direct
   * device may report only itself. All or nothing, like the batch post; stored values keep their own times.
   */
  historyPost(id: DeviceId, topic: string, payload: Buffer): void {
    this.timedPost(id, topic, payload, AlinkMethods.PROPERTY_HISTORY_POST, (params) => this.checkHistory(id, params), 'historyPost');
  }

  /** A post of values and events with their own times (batch or history): checked whole, stored, answered. */
  private timedPost(id: DeviceId, topic: string, payload: Buffer, method: string, check: (params: unknown) => TimedCheck, event: 'batchPost' | 'historyPost'): void {
    const req = this.parseRequest(topic, payload, method);
    if (!req) return;
    const params = req.params;
    const checked = check(params);
    if (checked.verdict.code === AlinkCodes.SUCCESS) {
      const now = Date.now();
      for (const [identifier, entries] of checked.properties) {
        for (const e of entries) this.storeProperties(id, { [identifier]: e }, now);
      }
      for (const e of checked.events.sort((a, b) => a.time - b.time)) this.storeEvent(id, e.event, e.value, e.time);
    }
    const v = checked.verdict;
    this.replyTo(topic, req, method, v);
    this.opts.events.emit(event, { ...id, id: String(req.id), params, code: v.code, ...(v.code === AlinkCodes.SUCCESS ? {} : { message: v.message }) });
  }

  /**
   * A gateway's `thing.event.property.pack.post` (docs/protocol/gateway-platform.md, "Pack post"): its own and its
   * sub-devices' values and events, at most 20 sub-devices, 200 properties and 20 events; every device known and bound
   * to this gateway, every value valid; all or nothing. Answered like the other posts; each device's values stored.
   */
  packPost(gw: DeviceId, topic: string, payload: Buffer): void {
    const method = AlinkMethods.PROPERTY_PACK_POST;
    const req = this.parseRequest(topic, payload, method);
    if (!req) return;
    const p = req.params;
    const parts: { id: DeviceId; properties: Record<string, unknown>; events: Record<string, unknown> }[] = [];
    const v = ((): Verdict => {
      if (!isPlainObject(p)) return { code: AlinkCodes.TSL_PARAMS_NOT_OBJECT, message: `params: expected {"properties", "events", "subDevices"}, received ${typeName(p)}` };
      const subs = p.subDevices ?? [];
      if (!Array.isArray(subs)) return { code: AlinkCodes.PARAM_ERROR, message: `params.subDevices: expected a list, received ${typeName(subs)}` };
      if (subs.length > PACK_POST_LIMITS.subDevices) return { code: AlinkCodes.PACK_TOO_MANY_SUB_DEVICES, message: `params.subDevices: expected at most ${PACK_POST_LIMITS.subDevices}, received ${subs.length}` };
      parts.push({ id: gw, properties: isPlainObject(p.properties) ? p.properties : {}, events: isPlainObject(p.events) ? p.events : {} });
      for (const [i, s] of subs.entries()) {
        const who = isPlainObject(s) && isPlainObject(s.identity) ? s.identity : undefined;
        const sub = who && typeof who.productKey === 'string' && typeof who.deviceName === 'string' ? { productKey: who.productKey, deviceName: who.deviceName } : undefined;
        if (!sub || !this.opts.registry.device(sub.productKey, sub.deviceName)) return { code: AlinkCodes.DEVICE_LOOKUP_FAILED, message: `params.subDevices[${i}].identity: expected a known sub-device` };
        const bound = this.opts.gatewayOf?.(sub);
        if (!bound || bound.productKey !== gw.productKey || bound.deviceName !== gw.deviceName) return { code: AlinkCodes.NO_TOPOLOGY, message: `params.subDevices[${i}]: ${sub.productKey}/${sub.deviceName} has no topology with this gateway` };
        parts.push({ id: sub, properties: isPlainObject((s as Record<string, unknown>).properties) ? ((s as Record<string, unknown>).properties as Record<string, unknown>) : {}, events: isPlainObject((s as Record<string, unknown>).events) ? ((s as Record<string, unknown>).events as Record<string, unknown>) : {} });
      }
      const nProps = parts.reduce((n, x) => n + Object.keys(x.properties).length, 0);
      const nEvents = parts.reduce((n, x) => n + Object.keys(x.events).length, 0);
      if (nProps > PACK_POST_LIMITS.properties) return { code: AlinkCodes.POST_TOO_MANY_PROPERTIES, message: `params: expected at most ${PACK_POST_LIMITS.properties} properties, received ${nProps}` };
      if (nEvents > PACK_POST_LIMITS.events) return { code: AlinkCodes.PACK_TOO_MANY_EVENTS, message: `params: expected at most ${PACK_POST_LIMITS.events} events, received ${nEvents}` };
      if (nProps + nEvents === 0) return { code: AlinkCodes.TSL_PARAMS_EMPTY, message: 'params: expected at least one property or event, received none' };
      for (const x of parts) {
        if (Object.keys(x.properties).length > 0) {
          const c = this.checkProperties(x.id, x.properties);
          if (c.code !== AlinkCodes.SUCCESS) return { code: c.code, message: `${x.id.productKey}/${x.id.deviceName}: ${c.message}` };
        }
        for (const [eventId, e] of Object.entries(x.events)) {
          const event = this.model(x.id).event(eventId);
          if (!event || !isPlainObject(e)) return { code: AlinkCodes.TSL_METHOD_NOT_EXIST, message: `${x.id.productKey}/${x.id.deviceName}: ${eventId} is not an event of its product` };
          const f = this.eventForm(x.id, event, e);
          if (f.verdict.code !== AlinkCodes.SUCCESS) return f.verdict;
        }
      }
      return OK;
    })();
    if (v.code === AlinkCodes.SUCCESS) {
      const now = Date.now();
      for (const x of parts) {
        if (Object.keys(x.properties).length > 0) this.storeProperties(x.id, x.properties, now);
        for (const [eventId, e] of Object.entries(x.events)) {
          const f = this.eventForm(x.id, this.model(x.id).event(eventId)!, e as Record<string, unknown>);
          this.storeEvent(x.id, this.model(x.id).event(eventId)!, f.value, typeof f.time === 'number' ? f.time : now);
        }
      }
    }
    this.replyTo(topic, req, method, v);
  }

  private checkHistory(id: DeviceId, params: unknown): TimedCheck {
    const properties: [string, unknown[]][] = [];
    const events: { event: EventDef; value: unknown; time: number }[] = [];
    const fail = (code: number, message: string) => ({ verdict: { code, message }, properties, events });
    const shape = '{"identity": {...}, "properties": [...], "events": [...]}';
    if (!Array.isArray(params) || params.length === 0) return fail(AlinkCodes.PARAM_ERROR, `params: expected a non-empty list of ${shape}, received ${typeName(params)}`);
    const model = this.model(id);
    for (const [b, block] of params.entries()) {
      const at = `params[${b}]`;
      if (!isPlainObject(block) || !isPlainObject(block.identity)) return fail(AlinkCodes.PARAM_ERROR, `${at}: expected ${shape}, received ${typeName(block)}`);
      const who = block.identity;
      if (who.productKey !== id.productKey || who.deviceName !== id.deviceName) {
        const known = typeof who.productKey === 'string' && typeof who.deviceName === 'string' && this.opts.registry.device(who.productKey, who.deviceName);
        const name = `${String(who.productKey)}/${String(who.deviceName)}`;
        return known
          ? fail(AlinkCodes.NO_TOPOLOGY, `${at}.identity: ${name} is not ${id.productKey}/${id.deviceName} nor one of its sub-devices`)
          : fail(AlinkCodes.DEVICE_LOOKUP_FAILED, `${at}.identity: expected a known device, received ${name}`);
      }
      for (const key of ['properties', 'events'] as const) {
        const list = block[key] ?? [];
        if (!Array.isArray(list)) return fail(AlinkCodes.PARAM_ERROR, `${at}.${key}: expected a list, received ${typeName(list)}`);
        for (const [i, item] of list.entries()) {
          const where = `${at}.${key}[${i}]`;
          if (!isPlainObject(item) || Object.keys(item).length === 0) return fail(AlinkCodes.PARAM_ERROR, `${where}: expected {"identifier": {"value": v, "time": ms}}, received ${typeName(item)}`);
          for (const [identifier, entry] of Object.entries(item)) {
            if (!isPlainObject(entry) || !('value' in entry) || typeof entry.time !== 'number') {
              return fail(AlinkCodes.PARAM_ERROR, `${where}.${identifier}: expected {"value": v, "time": ms} with a time, received ${typeName(entry)}`);
            }
            if (key === 'properties') {
              const v = this.checkProperties(id, { [identifier]: { value: entry.value, time: entry.time } });
              if (v.code !== AlinkCodes.SUCCESS) return fail(v.code, `${where}: ${v.message}`);
              properties.push([identifier, [{ value: entry.value, time: entry.time }]]);
              continue;
            }
            const event = model.event(identifier);
            if (!event) return fail(AlinkCodes.TSL_METHOD_NOT_EXIST, `${where}: ${identifier} is not an event of product ${id.productKey}`);
            const form = this.eventForm(id, event, entry, `${where}.${identifier}`);
            if (form.verdict.code !== AlinkCodes.SUCCESS) return { verdict: form.verdict, properties, events };
            events.push({ event, value: form.value, time: entry.time });
          }
        }
      }
    }
    if (properties.length + events.length === 0) return fail(AlinkCodes.TSL_PARAMS_EMPTY, 'params: expected at least one property or event, received none');
    return { verdict: OK, properties, events };
  }

  private checkBatch(id: DeviceId, params: unknown): TimedCheck {
    const properties: [string, unknown[]][] = [];
    const events: { event: EventDef; value: unknown; time: number }[] = [];
    const fail = (code: number, message: string) => ({ verdict: { code, message }, properties, events });
    if (!isPlainObject(params)) return fail(AlinkCodes.TSL_PARAMS_NOT_OBJECT, `params: expected {"properties": {...}, "events": {...}}, received ${typeName(params)}`);
    const extra = Object.keys(params).filter((k) => k !== 'properties' && k !== 'events');
    if (extra.length > 0) return fail(AlinkCodes.PARAM_ERROR, `params: expected only "properties" and "events", received ${extra.map((k) => JSON.stringify(k)).join(', ')}`);
    for (const key of ['properties', 'events'] as const) {
      if (params[key] !== undefined && !isPlainObject(params[key])) return fail(AlinkCodes.TSL_PARAMS_NOT_OBJECT, `params.${key}: expected an object of identifiers to lists, received ${typeName(params[key])}`);
    }
    const props = (params.properties ?? {}) as Record<string, unknown>;
    const evs = (params.events ?? {}) as Record<string, unknown>;
    const nProps = Object.keys(props).length;
    if (nProps + Object.keys(evs).length === 0) return fail(AlinkCodes.TSL_PARAMS_EMPTY, 'params: expected at least one property or event, received none');
    if (nProps > MAX_POST_PROPERTIES) return fail(AlinkCodes.POST_TOO_MANY_PROPERTIES, `params.properties: expected at most ${MAX_POST_PROPERTIES} properties, received ${nProps}`);
    const model = this.model(id);
    for (const [identifier, list] of Object.entries(props)) {
      const where = `params.properties.${identifier}`;
      if (!Array.isArray(list) || list.length === 0) return fail(AlinkCodes.PARAM_ERROR, `${where}: expected a non-empty list of {"value": v, "time": ms}, received ${typeName(list)}`);
      for (const [i, entry] of list.entries()) {
        if (!isPlainObject(entry) || !('value' in entry)) return fail(AlinkCodes.PARAM_ERROR, `${where}[${i}]: expected {"value": v, "time": ms}, received ${typeName(entry)}`);
        const v = this.checkProperties(id, { [identifier]: { value: entry.value, ...(entry.time === undefined ? {} : { time: entry.time }) } });
        if (v.code !== AlinkCodes.SUCCESS) return fail(v.code, `${where}[${i}]: ${v.message}`);
      }
      properties.push([identifier, list]);
    }
    for (const [eventId, list] of Object.entries(evs)) {
      const where = `params.events.${eventId}`;
      const event = model.event(eventId);
      if (!event) return fail(AlinkCodes.TSL_METHOD_NOT_EXIST, `${where}: ${eventId} is not an event of product ${id.productKey}`);
      if (!Array.isArray(list) || list.length === 0) return fail(AlinkCodes.PARAM_ERROR, `${where}: expected a non-empty list of {"value": {...}, "time": ms}, received ${typeName(list)}`);
      for (const [i, entry] of list.entries()) {
        if (!isPlainObject(entry)) return fail(AlinkCodes.PARAM_ERROR, `${where}[${i}]: expected {"value": {...}, "time": ms}, received ${typeName(entry)}`);
        const form = this.eventForm(id, event, entry, `${where}[${i}]`);
        if (form.verdict.code !== AlinkCodes.SUCCESS) return { verdict: form.verdict, properties, events };
        events.push({ event, value: form.value, time: typeof form.time === 'number' ? form.time : Date.now() });
      }
    }
    return { verdict: OK, properties, events };
  }
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)?.slice(0, 40)}`;
}

/**
 * A reported value is either bare or `{"value": v, "time": ms}`. A struct whose own members are named value/time
 * stays bare when the object fits the struct.
 */
function timedForm(raw: unknown, def: PropertyDef): { value: unknown; time?: unknown } | undefined {
  if (!isPlainObject(raw) || !('value' in raw) || !Object.keys(raw).every((k) => k === 'value' || k === 'time')) return undefined;
  if (def.dataType.type === 'struct') {
    const members = new Set(def.dataType.specs.map((m) => m.identifier));
    if (members.has('value') && Object.keys(raw).every((k) => members.has(k))) return undefined;
  }
  return raw as { value: unknown; time?: unknown };
}
