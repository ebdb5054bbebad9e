/**
 * SetDeviceDesiredProperty (docs/protocol/desired-shadow.md §1): `Items` (JSON object, at most 10 properties,
 * `null` clears one, read-only properties refused; values
 * checked against the TSL unless cloudValidation is off) and `Versions` (JSON object: each property's current desired
 * version, 0 the first time; `{}` skips the check). Online devices also get an ordinary property set.
 * Returns Data.MessageId (when a set was sent) and Data.Versions (the new versions, as JSON text).
 */
import { ApiError, ApiErrors } from '../errors';
import { deviceNameSchema, iotIdSchema, jsonObjectParam, optionalText, productKeySchema, resolveDevice } from './common';
import type { ApiAction } from './types';

export interface SetDeviceDesiredPropertyParams {
  IotId?: string;
  ProductKey?: string;
  DeviceName?: string;
  Items: string;
  Versions: string;
  IotInstanceId?: string;
}

/** The platform's limit per call (docs/protocol/desired-shadow.md §1). */
export const MAX_DESIRED_PER_CALL = 10;

export const setDeviceDesiredProperty: ApiAction<SetDeviceDesiredPropertyParams> = {
  name: 'SetDeviceDesiredProperty',
  schema: {
    type: 'object',
    required: ['Items', 'Versions'],
    properties: {
      IotId: iotIdSchema,
      ProductKey: productKeySchema,
      DeviceName: deviceNameSchema,
      Items: { type: 'string', minLength: 1, expected: 'a JSON object of property identifiers and desired values' },
      Versions: { type: 'string', minLength: 1, expected: 'a JSON object of property identifiers and their current desired versions' },
      IotInstanceId: optionalText(128),
    },
  },
  async handle(p, deps) {
    const device = resolveDevice(deps.registry, p);
    const items = jsonObjectParam('Items', p.Items);
    const versions = jsonObjectParam('Versions', p.Versions);
    const n = Object.keys(items).length;
    if (n === 0 || n > MAX_DESIRED_PER_CALL) throw ApiErrors.invalidParameter('Items', `a JSON object of 1..${MAX_DESIRED_PER_CALL} properties`, `${n} properties`);
    const model = deps.registry.product(device.productKey)!.model;
    const current = deps.platform.stateChannels.desiredOf(device);
    for (const [k, v] of Object.entries(items)) {
      const def = model.property(k);
      if (!def) throw ApiErrors.invalidItems(`${k}: not a property of the Thing Model`);
      if (def.accessMode === 'r') throw ApiErrors.propertyReadOnly(k);
      // As SetDeviceProperty: the value check follows cloudValidation (off, the device's own check answers).
      if (v !== null && deps.cloudValidation) {
        const r = model.validatePropertySet({ [k]: v });
        if (!r.ok) throw ApiErrors.invalidItems(r.message);
      }
      const want = versions[k];
      const have = current.get(k)?.version ?? 0;
      if (want !== undefined && want !== have) {
        // Our code: the platform's own for a version mismatch is not documented (docs/protocol/desired-shadow.md §1).
        throw new ApiError('iot.thing.DesiredPropertyVersionMismatch', 200, `Versions.${k}: expected the current desired version ${have}, received ${JSON.stringify(want)}.`, 'business');
      }
    }
    const r = await deps.platform.stateChannels.setDesired(device, items);
    return { Data: { ...(r.messageId ? { MessageId: r.messageId } : {}), Versions: JSON.stringify(r.versions) } };
  },
};
