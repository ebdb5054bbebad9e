/**
 * RRpc (seed 002): raw bytes to one device on `/sys/{pk}/{dn}/rrpc/request/{id}` (or `/ext/rrpc/{id}{Topic}`),
 * waiting up to Timeout ms. RrpcCode SUCCESS with PayloadBase64Byte, TIMEOUT, OFFLINE, or HALFCONN; MessageId is
 * a JSON number kept ≤ 2^53−1 so the SDK reads it exactly.
 */
import { ApiErrors } from '../errors';
import { base64Param, deviceNameSchema, findDevice, optionalText, productKeySchema } from './common';
import type { ApiAction } from './types';

export interface RRpcParams {
  ProductKey: string;
  DeviceName: string;
  RequestBase64Byte: string;
  Timeout: number;
  Topic?: string;
  IotInstanceId?: string;
}

export const rrpc: ApiAction<RRpcParams> = {
  name: 'RRpc',
  schema: {
    type: 'object',
    required: ['ProductKey', 'DeviceName', 'RequestBase64Byte', 'Timeout'],
    properties: {
      ProductKey: productKeySchema,
      DeviceName: deviceNameSchema,
      RequestBase64Byte: { type: 'string', expected: 'base64 text' },
      Timeout: { type: 'integer', minimum: 1000, maximum: 8000, expected: 'integer 1000..8000 (milliseconds)' },
      Topic: { type: 'string', minLength: 2, maxLength: 128, pattern: '^/[^+#]*$', expected: 'a custom topic starting with / and without wildcards' },
      IotInstanceId: optionalText(128),
    },
  },
  async handle(p, deps) {
    const device = findDevice(deps.registry, p.ProductKey, p.DeviceName);
    const request = base64Param('RequestBase64Byte', p.RequestBase64Byte, { maxBytes: deps.maxPayloadBytes });
    if (p.Topic !== undefined && !p.Topic.startsWith(`/${device.productKey}/${device.deviceName}/`) && !p.Topic.startsWith(`/sys/${device.productKey}/${device.deviceName}/`)) {
      throw ApiErrors.invalidParameter('Topic', `a topic of the device, starting with /${device.productKey}/${device.deviceName}/`, p.Topic);
    }
    const out = await deps.platform.rrpc(device, request, p.Timeout, p.Topic);
    return {
      RrpcCode: out.rrpcCode,
      MessageId: out.messageId,
      ...(out.payload ? { PayloadBase64Byte: out.payload.toString('base64') } : {}),
    };
  },
};
