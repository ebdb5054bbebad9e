/**
 * RegisterDevice: adds a device to a product at run time and returns its DeviceSecret (only in the response;
 * it is never logged). A name is generated when DeviceName is absent.
 */
import { ApiErrors } from '../errors';
import { DEVICE_NAME_RE } from '../registry';
import { findProduct, optionalText, productKeySchema } from './common';
import type { ApiAction } from './types';

export interface RegisterDeviceParams {
  ProductKey: string;
  DeviceName?: string;
  Nickname?: string;
  IotInstanceId?: string;
}

export const registerDevice: ApiAction<RegisterDeviceParams> = {
  name: 'RegisterDevice',
  schema: {
    type: 'object',
    required: ['ProductKey'],
    properties: {
      ProductKey: productKeySchema,
      DeviceName: { type: 'string', expected: '4..32 characters of letters, digits, - _ @ . :' },
      Nickname: { type: 'string', minLength: 4, maxLength: 64, expected: '4..64 characters' },
      IotInstanceId: optionalText(128),
    },
  },
  async handle(p, deps) {
    findProduct(deps.registry, p.ProductKey);
    if (p.DeviceName !== undefined && !DEVICE_NAME_RE.test(p.DeviceName)) {
      throw ApiErrors.invalidParameter('DeviceName', '4..32 characters of letters, digits, - _ @ . :', p.DeviceName);
    }
    const d = deps.registry.register(p.ProductKey, p.DeviceName, p.Nickname);
    return {
      Data: {
        IotId: d.iotId,
        ProductKey: d.productKey,
        DeviceName: d.deviceName,
        DeviceSecret: d.deviceSecret,
        ...(d.nickname ? { Nickname: d.nickname } : {}),
      },
    };
  },
};
