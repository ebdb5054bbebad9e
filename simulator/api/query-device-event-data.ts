/**
 * QueryDeviceEventData: events the device posted between StartTime and EndTime (ms), newest first unless Asc=1,
 * PageSize at a time (1..50, default 10); NextValid/NextTime page on. Only the last limits.eventHistory events per
 * device are kept.
 */
import { deviceNameSchema, epochMsSchema, iotIdSchema, optionalText, pageByTime, productKeySchema, resolveDevice } from './common';
import type { ApiAction } from './types';

export interface QueryDeviceEventDataParams {
  IotId?: string;
  ProductKey?: string;
  DeviceName?: string;
  StartTime: number;
  EndTime: number;
  Asc?: number;
  PageSize?: number;
  Identifier?: string;
  EventType?: string;
  IotInstanceId?: string;
}

export const queryDeviceEventData: ApiAction<QueryDeviceEventDataParams> = {
  name: 'QueryDeviceEventData',
  schema: {
    type: 'object',
    required: ['StartTime', 'EndTime'],
    properties: {
      IotId: iotIdSchema,
      ProductKey: productKeySchema,
      DeviceName: deviceNameSchema,
      StartTime: epochMsSchema,
      EndTime: epochMsSchema,
      Asc: { type: 'integer', enum: [0, 1], expected: '0 (newest first) or 1 (oldest first)' },
      PageSize: { type: 'integer', minimum: 1, maximum: 50, expected: 'integer 1..50' },
      Identifier: optionalText(128),
      EventType: { type: 'string', enum: ['info', 'alert', 'error'], expected: 'info, alert or error' },
      IotInstanceId: optionalText(128),
    },
  },
  async handle(p, deps) {
    const device = resolveDevice(deps.registry, p);
    const asc = p.Asc === 1;
    const pageSize = p.PageSize ?? 10;
    const events = (deps.state.peek(device.productKey, device.deviceName)?.events.toArray() ?? [])
      .filter((e) => p.Identifier === undefined || e.identifier === p.Identifier)
      .filter((e) => p.EventType === undefined || e.eventType === p.EventType);
    const { page, next } = pageByTime(events, p.StartTime, p.EndTime, asc, pageSize);
    return {
      Data: {
        List: {
          EventInfo: page.map((e) => ({ Time: String(e.time), Identifier: e.identifier, Name: e.name, EventType: e.eventType, OutputData: e.outputData })),
        },
        NextValid: next !== undefined,
        ...(next ? { NextTime: next.time } : {}),
      },
    };
  },
};
