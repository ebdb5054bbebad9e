/**
 * QueryDevicePropertyData: the values one property reported between StartTime and EndTime (ms), from ordinary, batch
 * and history posts alike (docs/protocol/history-post.md), newest first unless Asc=1, PageSize at a time (1..100,
 * as the console's page; the platform's own limit is not documented); NextValid/NextTime page on. Only the last
 * limits.eventHistory values per property are kept.
 */
import { deviceNameSchema, epochMsSchema, iotIdSchema, optionalText, pageByTime, productKeySchema, resolveDevice } from './common';
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
      StartTime: epochMsSchema,
      EndTime: epochMsSchema,
      Asc: { type: 'integer', enum: [0, 1], expected: '0 (newest first) or 1 (oldest first)' },
      PageSize: { type: 'integer', minimum: 1, maximum: 100, expected: 'integer 1..100' },
      IotInstanceId: optionalText(128),
    },
  },
  async handle(p, deps) {
    const device = resolveDevice(deps.registry, p);
    const values = deps.state.peek(device.productKey, device.deviceName)?.propertyHistory.get(p.Identifier)?.toArray() ?? [];
    const { page, next } = pageByTime(values, p.StartTime, p.EndTime, p.Asc === 1, p.PageSize);
    return {
      Data: {
        List: { PropertyInfo: page.map((v) => ({ Time: String(v.time), Value: typeof v.value === 'string' ? v.value : JSON.stringify(v.value) })) },
        NextValid: next !== undefined,
        ...(next ? { NextTime: next.time } : {}),
      },
    };
  },
};
