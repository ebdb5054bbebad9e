/**
 * InvokeThingService: async services are published on `thing/service/{id}` (Data.MessageId); sync services go
 * over RRPC as an Alink request and the call waits for the reply (limits.syncServiceTimeoutMs, default 5000),
 * returning Data.Result = the reply's data as JSON text. With cloud validation, Args are checked against the
 * service's inputData first; without it, an identifier the TSL lacks is sent as an async call.
 */
import { AlinkCodes } from '../../thing-model';
import { ApiErrors } from '../errors';
import type { Registry } from '../registry';
import { deviceNameSchema, iotIdSchema, jsonObjectParam, optionalText, productKeySchema, resolveDevice } from './common';
import type { ApiAction } from './types';

export interface InvokeThingServiceParams {
  IotId?: string;
  ProductKey?: string;
  DeviceName?: string;
  Identifier: string;
  Args: string;
  IotInstanceId?: string;
}

export const identifierSchema = { type: 'string', minLength: 1, maxLength: 128, expected: 'a service identifier' };
export const argsSchema = { type: 'string', expected: 'a JSON object of input parameters ({} when none)' };

/** Parses Args and checks them against the TSL; returns the args and whether the service is sync. */
export function checkService(registry: Registry, productKey: string, identifier: string, argsText: string, cloudValidation: boolean) {
  const args = jsonObjectParam('Args', argsText);
  const model = registry.product(productKey)!.model;
  const service = model.service(identifier);
  if (cloudValidation) {
    if (!service) throw ApiErrors.serviceNotFound(identifier);
    const v = model.validateServiceInput(identifier, args);
    if (!v.ok) throw ApiErrors.invalidArgs(v.message);
  }
  return { args, sync: service?.callType === 'sync' };
}

export const invokeThingService: ApiAction<InvokeThingServiceParams> = {
  name: 'InvokeThingService',
  schema: {
    type: 'object',
    required: ['Identifier', 'Args'],
    properties: {
      IotId: iotIdSchema,
      ProductKey: productKeySchema,
      DeviceName: deviceNameSchema,
      Identifier: identifierSchema,
      Args: argsSchema,
      IotInstanceId: optionalText(128),
    },
  },
  async handle(p, deps) {
    const device = resolveDevice(deps.registry, p);
    const { args, sync } = checkService(deps.registry, device.productKey, p.Identifier, p.Args, deps.cloudValidation);
    if (!sync) {
      const messageId = await deps.platform.invokeAsync(device, p.Identifier, args);
      return { Data: { MessageId: messageId } };
    }
    const who = `${device.productKey}/${device.deviceName}`;
    const out = await deps.platform.invokeSync(device, p.Identifier, args, deps.syncServiceTimeoutMs);
    if (out.reachability !== 'ONLINE') throw ApiErrors.deviceOffline(who);
    if (out.scriptError) throw ApiErrors.scriptFailed(out.scriptError.code, out.scriptError.message);
    if (out.reply) {
      if (out.reply.code !== AlinkCodes.SUCCESS) throw ApiErrors.serviceFailed(p.Identifier, out.reply.code, out.reply.message);
      return { Data: { MessageId: out.messageId, Result: JSON.stringify(out.reply.data ?? {}) } };
    }
    if (out.rawReply) return { Data: { MessageId: out.messageId, Result: out.rawReply.toString('utf8') } };
    throw ApiErrors.serviceTimeout(p.Identifier, deps.syncServiceTimeoutMs);
  },
};
