/** SetDevicesProperty: the same property-set request to up to 100 devices of one product. */
import { deviceNameSchema, findDevice, findProduct, optionalText, productKeySchema } from './common';
import { checkItems } from './set-device-property';
import type { ApiAction } from './types';

export const MAX_BATCH_DEVICES = 100;

export interface SetDevicesPropertyParams {
  ProductKey: string;
  DeviceName: string[];
  Items: string;
  IotInstanceId?: string;
}

export const setDevicesProperty: ApiAction<SetDevicesPropertyParams> = {
  name: 'SetDevicesProperty',
  lists: ['DeviceName'],
  schema: {
    type: 'object',
    required: ['ProductKey', 'DeviceName', 'Items'],
    properties: {
      ProductKey: productKeySchema,
      DeviceName: {
        type: 'array',
        minItems: 1,
        maxItems: MAX_BATCH_DEVICES,
        items: deviceNameSchema,
        expected: `a list DeviceName.1 .. DeviceName.N of 1..${MAX_BATCH_DEVICES} device names`,
      },
      Items: { type: 'string', minLength: 1, expected: 'a JSON object of property identifiers and values' },
      IotInstanceId: optionalText(128),
    },
  },
  async handle(p, deps) {
    findProduct(deps.registry, p.ProductKey);
    const devices = p.DeviceName.map((dn) => findDevice(deps.registry, p.ProductKey, dn));
    const items = checkItems(deps.registry, p.ProductKey, p.Items, deps.cloudValidation);
    await Promise.all(devices.map((d) => deps.platform.setProperties(d, items)));
    return {};
  },
};
