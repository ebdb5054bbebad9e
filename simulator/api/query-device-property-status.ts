/**
 * QueryDevicePropertyStatus: every property of the product's TSL with the last value the device reported and
 * when (Value and Time are absent for properties never reported). Values are strings, objects as JSON text.
 */
import { isPlainObject } from '../../thing-model';
import { deviceNameSchema, iotIdSchema, optionalText, productKeySchema, resolveDevice } from './common';
import type { ApiAction } from './types';

export interface QueryDevicePropertyStatusParams {
  IotId?: string;
  ProductKey?: string;
  DeviceName?: string;
  FunctionBlockId?: string;
  IotInstanceId?: string;
}

function text(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export const queryDevicePropertyStatus: ApiAction<QueryDevicePropertyStatusParams> = {
  name: 'QueryDevicePropertyStatus',
  schema: {
    type: 'object',
    properties: {
      IotId: iotIdSchema,
      ProductKey: productKeySchema,
      DeviceName: deviceNameSchema,
      FunctionBlockId: optionalText(128),
      IotInstanceId: optionalText(128),
    },
  },
  async handle(p, deps) {
    const device = resolveDevice(deps.registry, p);
    const model = deps.registry.product(device.productKey)!.model;
    const reported = deps.state.peek(device.productKey, device.deviceName)?.properties;
    const info = model.model.properties.map((prop) => {
      const last = reported?.get(prop.identifier);
      const specs = prop.dataType.specs as { unit?: unknown } | undefined;
      return {
        Identifier: prop.identifier,
        Name: prop.name ?? prop.identifier,
        DataType: prop.dataType.type,
        ...(isPlainObject(specs) && typeof specs.unit === 'string' ? { Unit: specs.unit } : {}),
        ...(last ? { Value: text(last.value), Time: String(last.time) } : {}),
      };
    });
    return { Data: { List: { PropertyStatusInfo: info } } };
  },
};
