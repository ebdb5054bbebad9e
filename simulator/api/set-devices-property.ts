/** SetDevicesProperty: the same property-set request to up to 100 devices of one product. */
import { deviceNameListSchema, findDevices, optionalText, productKeySchema } from './common';
import { checkItems, itemsSchema } from './set-device-property';
import type { ApiAction } from './types';

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
      DeviceName: deviceNameListSchema,
      Items: itemsSchema,
      IotInstanceId: optionalText(128),
    },
  },
  async handle(p, deps) {
    const devices = findDevices(deps.registry, p.ProductKey, p.DeviceName);
    const items = checkItems(deps.registry, p.ProductKey, p.Items, deps.cloudValidation);
    await Promise.all(devices.map((d) => deps.platform.setProperties(d, items)));
    return {};
  },
};
