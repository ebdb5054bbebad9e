/**
 * InvokeThingsService (seed 003): one service to up to 100 devices of a product, always asynchronously (the
 * seed: "only asynchronous calls are supported"), on each device's `thing/service/{id}` topic.
 */
import { deviceNameListSchema, findDevices, optionalText, productKeySchema } from './common';
import { argsSchema, checkService, identifierSchema } from './invoke-thing-service';
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
      DeviceName: deviceNameListSchema,
      Identifier: identifierSchema,
      Args: argsSchema,
      IotInstanceId: optionalText(128),
    },
  },
  async handle(p, deps) {
    const devices = findDevices(deps.registry, p.ProductKey, p.DeviceName);
    const { args } = checkService(deps.registry, p.ProductKey, p.Identifier, p.Args, deps.cloudValidation);
    await Promise.all(devices.map((d) => deps.platform.invokeAsync(d, p.Identifier, args)));
    return {};
  },
};
