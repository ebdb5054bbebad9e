/** Parameter pieces shared by the actions: schema fragments, device lookup, JSON and base64 parameters. */
import { ApiErrors } from '../errors';
import type { DeviceRecord, ProductRecord, Registry } from '../registry';

export const productKeySchema = { type: 'string', minLength: 1, maxLength: 64, expected: 'a product key' };
export const deviceNameSchema = { type: 'string', minLength: 1, maxLength: 64, expected: 'a device name' };
export const iotIdSchema = { type: 'string', minLength: 1, maxLength: 64, expected: 'an IotId' };
/** StartTime / EndTime of the time-range queries (QueryDeviceEventData, QueryDevicePropertyData). */
export const epochMsSchema = { type: 'integer', minimum: 0, maximum: 8_640_000_000_000_000, expected: 'a time in epoch milliseconds' };
export const optionalText = (max: number) => ({ type: 'string', maxLength: max, expected: `a string of at most ${max} characters` });

/** One device named by IotId or ProductKey + DeviceName (the lifecycle and topology actions). */
export interface DeviceParams {
  IotId?: string;
  ProductKey?: string;
  DeviceName?: string;
  IotInstanceId?: string;
}

export const deviceProps = { IotId: iotIdSchema, ProductKey: productKeySchema, DeviceName: deviceNameSchema, IotInstanceId: optionalText(128) };

/** The most devices one batch action (SetDevicesProperty, InvokeThingsService) addresses. */
export const MAX_BATCH_DEVICES = 100;
/** `DeviceName.1 .. DeviceName.N` of a batch action. */
export const deviceNameListSchema = {
  type: 'array',
  minItems: 1,
  maxItems: MAX_BATCH_DEVICES,
  items: deviceNameSchema,
  expected: `a list DeviceName.1 .. DeviceName.N of 1..${MAX_BATCH_DEVICES} device names`,
};

/** The device named by IotId, or by ProductKey + DeviceName (IotId wins when both are given, as documented). */
export function resolveDevice(registry: Registry, p: { IotId?: string; ProductKey?: string; DeviceName?: string }): DeviceRecord {
  if (p.IotId !== undefined) {
    const d = registry.deviceByIotId(p.IotId);
    if (!d) throw ApiErrors.deviceNotFound(`IotId "${p.IotId}"`);
    return d;
  }
  if (p.ProductKey === undefined) throw ApiErrors.missingParameter('ProductKey');
  if (p.DeviceName === undefined) throw ApiErrors.missingParameter('DeviceName');
  return findDevice(registry, p.ProductKey, p.DeviceName);
}

export function findProduct(registry: Registry, productKey: string): ProductRecord {
  const product = registry.product(productKey);
  if (!product) throw ApiErrors.productNotFound(productKey);
  return product;
}

export function findDevice(registry: Registry, productKey: string, deviceName: string): DeviceRecord {
  findProduct(registry, productKey);
  const d = registry.device(productKey, deviceName);
  if (!d) throw ApiErrors.deviceNotFound(`ProductKey "${productKey}", DeviceName "${deviceName}"`);
  return d;
}

/** Every device of a batch action, or the error for the first unknown product or device. */
export function findDevices(registry: Registry, productKey: string, deviceNames: string[]): DeviceRecord[] {
  return deviceNames.map((dn) => findDevice(registry, productKey, dn));
}

/** A parameter holding a JSON object (Items, Args). */
export function jsonObjectParam(name: string, text: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw ApiErrors.invalidParameter(name, 'a JSON object', text);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw ApiErrors.invalidParameter(name, 'a JSON object', text);
  return v as Record<string, unknown>;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64_LOOSE = /^[A-Za-z0-9+/_-]*={0,2}$/;

/**
 * A base64 parameter decoded to bytes. Strict: the standard alphabet and a length that can be base64 (padding
 * optional). Loose (CorrelationData): also the URL-safe alphabet and any length, decoded as Node decodes it.
 */
export function base64Param(name: string, text: string, opts: { loose?: boolean; maxBytes?: number } = {}): Buffer {
  const ok = opts.loose ? BASE64_LOOSE.test(text) : BASE64.test(text) && text.replace(/=+$/, '').length % 4 !== 1 && (!text.includes('=') || text.length % 4 === 0);
  if (!ok) throw ApiErrors.invalidParameter(name, 'base64 text', text);
  const bytes = Buffer.from(text, 'base64');
  if (opts.maxBytes !== undefined && bytes.length > opts.maxBytes) {
    throw ApiErrors.invalidParameter(name, `at most ${opts.maxBytes} bytes after base64 decoding`, `${bytes.length} bytes`);
  }
  return bytes;
}

/**
 * One page of a time-range query: the records with `start <= time <= end`, newest first unless `asc`, and the first
 * record of the next page (its time is the answer's NextTime).
 */
export function pageByTime<T extends { time: number }>(records: readonly T[], start: number, end: number, asc: boolean, pageSize: number): { page: T[]; next?: T } {
  const inRange = records.filter((r) => r.time >= start && r.time <= end).sort((a, b) => (asc ? a.time - b.time : b.time - a.time));
  const next = inRange[pageSize];
  return { page: inRange.slice(0, pageSize), ...(next !== undefined ? { next } : {}) };
}
