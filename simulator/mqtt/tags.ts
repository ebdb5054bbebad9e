/**
 * Device tags (docs/protocol/tags.md): what devices post with `thing.deviceinfo.update` / `delete`, and what the
 * cloud's SaveDeviceProp, QueryDeviceProp and DeleteDeviceProp read and change: one set of tags per device, in
 * memory. Keys: 2..30 letters, digits, `_` `-` `.`, not starting with a digit (the stricter reading of two pages
 * that disagree); values: at most 128 characters (CJK counts 2). An item's `domain` (the Python SDK's system facts)
 * is accepted and ignored.
 */
import type { Logger } from 'pino';
import { AlinkCodes, isPlainObject } from '../../thing-model';
import type { DeviceId } from './acl';
import { parseJson } from './posts';

export const TAG_KEY_RE = /^[A-Za-z_.-][A-Za-z0-9_.-]{1,29}$/;
export const MAX_DEVICE_TAGS_PER_UPDATE = 200;
const CJK_RE = /[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]/g;

/** Why a tag value is refused, or undefined. */
export function tagValueProblem(v: unknown): string | undefined {
  if (typeof v !== 'string' || v === '') return 'expected a non-empty string';
  const len = v.length + (v.match(CJK_RE)?.length ?? 0);
  return len > 128 ? `expected at most 128 characters (CJK counts 2), received ${len}` : undefined;
}

export class DeviceTags {
  private readonly tags = new Map<string, Map<string, string>>();

  constructor(
    private readonly opts: {
      logger: Logger;
      send(topic: string, payload: Buffer, qos: 0 | 1): Promise<void>;
    },
  ) {}

  /** The device's tags (a copy). */
  of(id: DeviceId): Record<string, string> {
    return Object.fromEntries(this.tags.get(key(id)) ?? []);
  }

  save(id: DeviceId, props: Record<string, string>): void {
    const m = this.tags.get(key(id)) ?? new Map<string, string>();
    for (const [k, v] of Object.entries(props)) m.set(k, v);
    this.tags.set(key(id), m);
  }

  /** DeleteDevice: the device's tags go with it. */
  forget(id: DeviceId): void {
    this.tags.delete(key(id));
  }

  remove(id: DeviceId, keys: readonly string[]): void {
    const m = this.tags.get(key(id));
    for (const k of keys) m?.delete(k);
  }

  /** `thing/deviceinfo/update`: every item checked first; all or nothing. */
  onUpdate(id: DeviceId, topic: string, payload: Buffer): Promise<void> {
    const req = request(payload);
    if (typeof req === 'string') return this.reply(topic, undefined, AlinkCodes.PARAM_ERROR, req);
    const items = req.params;
    if (!Array.isArray(items) || items.length === 0 || items.length > MAX_DEVICE_TAGS_PER_UPDATE) {
      return this.reply(topic, req.id, AlinkCodes.PARAM_ERROR, `params: expected a list of 1..${MAX_DEVICE_TAGS_PER_UPDATE} {attrKey, attrValue}`);
    }
    const props: Record<string, string> = {};
    for (const [i, item] of items.entries()) {
      const k = isPlainObject(item) ? item.attrKey : undefined;
      if (typeof k !== 'string' || !TAG_KEY_RE.test(k)) return this.reply(topic, req.id, AlinkCodes.PARAM_ERROR, `params[${i}].attrKey: expected 2..30 letters, digits, _ - . not starting with a digit, received ${JSON.stringify(k)}`);
      const problem = tagValueProblem((item as Record<string, unknown>).attrValue);
      if (problem) return this.reply(topic, req.id, AlinkCodes.PARAM_ERROR, `params[${i}].attrValue: ${problem}`);
      props[k] = (item as Record<string, unknown>).attrValue as string;
    }
    this.save(id, props);
    return this.reply(topic, req.id, AlinkCodes.SUCCESS);
  }

  /** `thing/deviceinfo/delete`. */
  onDelete(id: DeviceId, topic: string, payload: Buffer): Promise<void> {
    const req = request(payload);
    if (typeof req === 'string') return this.reply(topic, undefined, AlinkCodes.PARAM_ERROR, req);
    const items = req.params;
    if (!Array.isArray(items) || items.length === 0) return this.reply(topic, req.id, AlinkCodes.PARAM_ERROR, 'params: expected a non-empty list of {attrKey}');
    const keys: string[] = [];
    for (const [i, item] of items.entries()) {
      const k = isPlainObject(item) ? item.attrKey : undefined;
      if (typeof k !== 'string' || k === '') return this.reply(topic, req.id, AlinkCodes.PARAM_ERROR, `params[${i}].attrKey: expected a tag key, received ${JSON.stringify(k)}`);
      keys.push(k);
    }
    this.remove(id, keys);
    return this.reply(topic, req.id, AlinkCodes.SUCCESS);
  }

  private reply(topic: string, id: unknown, code: number, message?: string): Promise<void> {
    if (message) this.opts.logger.debug({ topic, code, reason: message }, 'tag request refused');
    const body = { ...(id === undefined ? {} : { id }), code, data: {}, ...(message ? { message } : {}), version: '1.0' };
    return this.opts.send(`${topic}_reply`, Buffer.from(JSON.stringify(body)), 0);
  }
}

function key(id: DeviceId): string {
  return `${id.productKey}/${id.deviceName}`;
}

function request(payload: Buffer): { id: unknown; params: unknown } | string {
  const parsed = parseJson(payload);
  if (!parsed.ok || !isPlainObject(parsed.value)) return 'request error: the payload is not a JSON object';
  return { id: parsed.value.id, params: parsed.value.params };
}
