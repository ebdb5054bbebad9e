/**
 * GetDeviceStatus: Data.Status ONLINE, OFFLINE, UNACTIVE (never connected) or DISABLE (DisableThing), Data.Timestamp
 * of the last change.
 */
import { deviceNameSchema, iotIdSchema, optionalText, productKeySchema, resolveDevice } from './common';
import type { ApiAction } from './types';

export interface GetDeviceStatusParams {
  IotId?: string;
  ProductKey?: string;
  DeviceName?: string;
  IotInstanceId?: string;
}

export const getDeviceStatus: ApiAction<GetDeviceStatusParams> = {
  name: 'GetDeviceStatus',
  schema: {
    type: 'object',
    properties: { IotId: iotIdSchema, ProductKey: productKeySchema, DeviceName: deviceNameSchema, IotInstanceId: optionalText(128) },
  },
  async handle(p, deps) {
    const device = resolveDevice(deps.registry, p);
    const s = deps.platform.status(device);
    return { Data: { Status: device.disabled ? 'DISABLE' : s.status, Timestamp: s.at } };
  },
};
