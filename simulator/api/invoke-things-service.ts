/**
 * InvokeThingsService (seed 003): one service to up to 100 devices of a product, always asynchronously (the
 * seed: "only asynchronous calls are supported"), on each device's `thing/service/{id}` topic.
 */
import { deviceNameSchema, findDevice, findProduct, optionalText, productKeySchema } from './common';
import { argsSchema, checkService, identifierSchema } from './invoke-thing-service';
import { MAX_BATCH_DEVICES } from './set-devices-property';
import type { ApiAction } from './types';

export interface InvokeThingsServiceParams {
  ProductKey: string;
  DeviceName: string[];
  Identifier: string;
  Args: string;
  IotInstanceId?: string;
}

export const invokeThingsService: ApiAction<InvokeThingsServiceParams> = {
  name: 'InvokeThingsService',
  lists: ['DeviceName'],
  schema: {
    type: 'object',
    required: ['ProductKey', 'DeviceName', 'Identifier', 'Args'],
    properties: {
      ProductKey: productKeySchema,
      DeviceName: {
        type: 'array',
        minItems: 1,
        maxItems: MAX_BATCH_DEVICES,
        items: deviceNameSchema,
        expected: `a list DeviceName.1 .. DeviceName.N of 1..${MAX_BATCH_DEVICES} device names`,
      },
      Identifier: identifierSchema,
      Args: argsSchema,
      IotInstanceId: optionalText(128),
    },
  },
  async handle(p, deps) {
    findProduct(deps.registry, p.ProductKey);
    const devices = p.DeviceName.map((dn) => findDevice(deps.registry, p.ProductKey, dn));
    const { args } = checkService(deps.registry, p.ProductKey, p.Identifier, p.Args, deps.cloudValidation);
    await Promise.all(devices.map((d) => deps.platform.invokeAsync(d, p.Identifier, args)));
    return {};
  },
};
