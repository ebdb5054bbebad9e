/** GetDeviceShadow (docs/protocol/desired-shadow.md §2): the shadow document as JSON text in `ShadowMessage`. */
import { shadowView } from '../mqtt/shadow';
import { deviceNameSchema, findDevice, optionalText, productKeySchema } from './common';
import type { ApiAction } from './types';

export interface GetDeviceShadowParams {
  ProductKey: string;
  DeviceName: string;
  IotInstanceId?: string;
}

export const getDeviceShadow: ApiAction<GetDeviceShadowParams> = {
  name: 'GetDeviceShadow',
  schema: {
    type: 'object',
    required: ['ProductKey', 'DeviceName'],
    properties: { ProductKey: productKeySchema, DeviceName: deviceNameSchema, IotInstanceId: optionalText(128) },
  },
  async handle(p, deps) {
    const device = findDevice(deps.registry, p.ProductKey, p.DeviceName);
    return { ShadowMessage: JSON.stringify(shadowView(deps.platform.stateChannels.shadowOf(device))) };
  },
};
