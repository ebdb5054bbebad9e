/**
 * QueryDevicePropertyData: the values one property reported between StartTime and EndTime (ms), from ordinary, batch
 * and history posts alike (docs/protocol/history-post.md), newest first unless Asc=1, PageSize at a time (1..100,
 * as the console's page; the platform's own limit is not documented); NextValid/NextTime page on. Only the last
 * limits.eventHistory values per property are kept.
 */
import { deviceNameSchema, iotIdSchema, optionalText, productKeySchema, resolveDevice } from './common';
import type { ApiAction } from './types';

export interface QueryDevicePropertyDataParams {
  IotId?: string;
  ProductKey?: string;
  DeviceName?: string;
  Identifier: string;
  StartTime: number;
  EndTime: number;
  Asc: number;
  PageSize: number;
  IotInstanceId?: string;
}

const msSchema = { type: 'integer', minimum: 0, maximum: 8_640_000_000_000_000, expected: 'a time in epoch milliseconds' };

export const queryDevicePropertyData: ApiAction<QueryDevicePropertyDataParams> = {
  name: 'QueryDevicePropertyData',
  schema: {
    type: 'object',
    required: ['Identifier', 'StartTime', 'EndTime', 'Asc', 'PageSize'],
    properties: {
      IotId: iotIdSchema,
      ProductKey: productKeySchema,
      DeviceName: deviceNameSchema,
      Identifier: { type: 'string', minLength: 1, maxLength: 128, expected: 'a property identifier' },
      StartTime: msSchema,
      EndTime: msSchema,
      Asc: { type: 'integer', enum: [0, 1], expected: '0 (newest first) or 1 (oldest first)' },
      PageSize: { type: 'integer', minimum: 1, maximum: 100, expected: 'integer 1..100' },
      IotInstanceId: optionalText(128),
    },
  },
  async handle(p, deps) {
    const device = resolveDevice(deps.registry, p);
    const asc = p.Asc === 1;
    const values = (deps.state.peek(device.productKey, device.deviceName)?.propertyHistory.get(p.Identifier)?.toArray() ?? [])
      .filter((v) => v.time >= p.StartTime && v.time <= p.EndTime)
      .sort((a, b) => (asc ? a.time - b.time : b.time - a.time));
    const page = values.slice(0, p.PageSize);
    const next = values[p.PageSize];
    return {
      Data: {
        List: { PropertyInfo: page.map((v) => ({ Time: String(v.time), Value: typeof v.value === 'string' ? v.value : JSON.stringify(v.value) })) },
        NextValid: next !== undefined,
        ...(next ? { NextTime: next.time } : {}),
      },
    };
  },
};
