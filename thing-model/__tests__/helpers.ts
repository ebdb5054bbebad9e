/** Shared fixtures of the thing-model tests. */
import { join } from 'node:path';
import { loadThingModel } from '../load';
import type { ThingModel } from '../types';

export const FIXTURES = join(__dirname, '..', 'fixtures');
export const EXAMPLE_TSL = join(FIXTURES, 'example-gateway.json');

/** A one-module TSL export around the given properties (raw export JSON, specs as strings). */
export function tsl(properties: object[], extra: { services?: object[]; events?: object[] } = {}): Record<string, unknown> {
  return { schema: 'https://iotx-tsl.oss-ap-southeast-1.aliyuncs.com/schema.json', profile: { productKey: 'a1Test0001' }, properties, services: extra.services ?? [], events: extra.events ?? [] };
}

/** A read-write property of the given raw data type. */
export function rw(identifier: string, dataType: object): object {
  return { identifier, name: identifier, accessMode: 'rw', required: false, dataType };
}

/** A loaded model holding one read-write property `X` of `dataType`. */
export function single(dataType: object): ThingModel {
  return loadThingModel(tsl([rw('X', dataType)]));
}
