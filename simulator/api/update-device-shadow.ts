/**
 * UpdateDeviceShadow (docs/protocol/desired-shadow.md §2): `ShadowMessage` is `{"method":"update","state":
 * {"desired":{...}},"version":N}`; N must exceed the shadow's version (0: no versioning). The device gets the
 * new document as a `control` message. A refused update answers with the shadow code in the error code
 * (`iot.shadow.{code}`, our spelling: the platform's API codes for these are not documented).
 */
import { ApiError } from '../errors';
import { deviceNameSchema, findDevice, jsonObjectParam, optionalText, productKeySchema } from './common';
import type { ApiAction } from './types';

export interface UpdateDeviceShadowParams {
  ProductKey: string;
  DeviceName: string;
  ShadowMessage: string;
  DeltaUpdate?: boolean;
  IotInstanceId?: string;
}

export const updateDeviceShadow: ApiAction<UpdateDeviceShadowParams> = {
  name: 'UpdateDeviceShadow',
  schema: {
    type: 'object',
    required: ['ProductKey', 'DeviceName', 'ShadowMessage'],
    properties: {
      ProductKey: productKeySchema,
      DeviceName: deviceNameSchema,
      ShadowMessage: { type: 'string', minLength: 1, expected: 'a JSON shadow update {"method":"update","state":{"desired":{...}},"version":N}' },
      DeltaUpdate: { type: 'boolean', expected: 'true or false' },
      IotInstanceId: optionalText(128),
    },
  },
  async handle(p, deps) {
    const device = findDevice(deps.registry, p.ProductKey, p.DeviceName);
    const msg = jsonObjectParam('ShadowMessage', p.ShadowMessage);
    const r = await deps.platform.stateChannels.updateShadowFromCloud(device, msg);
    if (!r.ok) throw new ApiError(`iot.shadow.${r.errorcode}`, 200, `ShadowMessage: ${r.errormessage} (shadow code ${r.errorcode}).`, 'business');
    return {};
  },
};
