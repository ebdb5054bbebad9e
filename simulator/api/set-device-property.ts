/**
 * SetDeviceProperty (seeds 000/001): checks Items against the product's TSL (read-only and invalid values are
 * refused before anything is sent, unless cloudValidation is off), publishes the Alink property-set request on
 * the device's `thing/service/property/set` topic and returns Data.MessageId.
 */
import { ApiErrors } from '../errors';
import type { Registry } from '../registry';
import { deviceNameSchema, iotIdSchema, jsonObjectParam, optionalText, productKeySchema, resolveDevice } from './common';
import type { ApiAction } from './types';

export interface SetDevicePropertyParams {
  IotId?: string;
  ProductKey?: string;
  DeviceName?: string;
  Items: string;
  IotInstanceId?: string;
}

/** Parses Items and, with cloud validation on, checks it against the TSL; shared with SetDevicesProperty. */
/** The `Items` parameter: a JSON object of property values, checked by {@link checkItems}. */
export const itemsSchema = { type: 'string', minLength: 1, expected: 'a JSON object of property identifiers and values' };

export function checkItems(registry: Registry, productKey: string, text: string, cloudValidation: boolean): Record<string, unknown> {
  const items = jsonObjectParam('Items', text);
  if (Object.keys(items).length === 0) throw ApiErrors.invalidParameter('Items', 'a JSON object with at least one property', text);
  if (!cloudValidation) return items;
  const model = registry.product(productKey)!.model;
  for (const key of Object.keys(items)) {
    if (model.property(key)?.accessMode === 'r') throw ApiErrors.propertyReadOnly(key);
  }
  const v = model.validatePropertySet(items);
  if (!v.ok) throw ApiErrors.invalidItems(v.message);
  return items;
}

export const setDeviceProperty: ApiAction<SetDevicePropertyParams> = {
  name: 'SetDeviceProperty',
  schema: {
    type: 'object',
    required: ['Items'],
    properties: {
      IotId: iotIdSchema,
      ProductKey: productKeySchema,
      DeviceName: deviceNameSchema,
      Items: itemsSchema,
      IotInstanceId: optionalText(128),
    },
  },
  async handle(p, deps) {
    const device = resolveDevice(deps.registry, p);
    const items = checkItems(deps.registry, device.productKey, p.Items, deps.cloudValidation);
    const messageId = await deps.platform.setProperties(device, items);
    return { Data: { MessageId: messageId } };
  },
};
