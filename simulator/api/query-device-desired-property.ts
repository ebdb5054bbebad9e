/**
 * QueryDeviceDesiredProperty (docs/protocol/desired-shadow.md §1): the desired value and version of each
 * `Identifier.N` (all read-write properties when none is given); a cleared value comes back without `Value`.
 */
import { ApiErrors } from '../errors';
import { deviceNameSchema, iotIdSchema, optionalText, productKeySchema, resolveDevice } from './common';
import type { ApiAction } from './types';

export interface QueryDeviceDesiredPropertyParams {
  IotId?: string;
  ProductKey?: string;
  DeviceName?: string;
  Identifier?: string[];
  FunctionBlockId?: string;
  IotInstanceId?: string;
}

export const queryDeviceDesiredProperty: ApiAction<QueryDeviceDesiredPropertyParams> = {
  name: 'QueryDeviceDesiredProperty',
  lists: ['Identifier'],
  schema: {
    type: 'object',
    properties: {
      IotId: iotIdSchema,
      ProductKey: productKeySchema,
      DeviceName: deviceNameSchema,
      Identifier: { type: 'array', maxItems: 10, items: { type: 'string', minLength: 1 }, expected: 'a list Identifier.1 .. Identifier.N of at most 10 identifiers' },
      FunctionBlockId: optionalText(128),
      IotInstanceId: optionalText(128),
    },
  },
  async handle(p, deps) {
    const device = resolveDevice(deps.registry, p);
    const model = deps.registry.product(device.productKey)!.model;
    const ids = p.Identifier?.length ? p.Identifier : model.model.properties.filter((x) => x.accessMode === 'rw').map((x) => x.identifier);
    const desired = deps.platform.stateChannels.desiredOf(device);
    const info = ids.map((id) => {
      const def = model.property(id);
      if (!def) throw ApiErrors.invalidParameter('Identifier', 'property identifiers of the Thing Model', id);
      const e = desired.get(id);
      const specs = def.dataType.specs as { unit?: unknown } | undefined;
      return {
        Identifier: id,
        Name: def.name ?? id,
        DataType: def.dataType.type,
        ...(specs && typeof specs === 'object' && typeof specs.unit === 'string' ? { Unit: specs.unit } : {}),
        Version: e?.version ?? 0,
        ...(e ? { Time: String(e.time) } : {}),
        ...(e?.value !== undefined ? { Value: typeof e.value === 'string' ? e.value : JSON.stringify(e.value) } : {}),
      };
    });
    return { Data: { List: { DesiredPropertyInfo: info } } };
  },
};
