/** The gateway's error table (docs/protocol/gateway.md): what `ctx.gateway` refuses, each message naming the field, expected and received. */

export const GATEWAY_ERROR_CODES = {
  GATEWAY_UNKNOWN_PRODUCT: 'ctx.gateway.add named a product whose Thing Model the configuration does not give (gateway.products or a subDevices entry)',
  GATEWAY_UNKNOWN_DEVICE: 'ctx.gateway.remove or setReachable named a sub-device the agent does not know',
  GATEWAY_INVALID_DEVICE: 'ctx.gateway.add got a malformed identity or secret, or the gateway itself',
} as const;

export type GatewayErrorCode = keyof typeof GATEWAY_ERROR_CODES;

export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  constructor(
    readonly code: GatewayErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const GatewayErrors = {
  unknownProduct: (productKey: string, known: readonly string[]) =>
    new GatewayError('GATEWAY_UNKNOWN_PRODUCT', `productKey: expected a product with a configured Thing Model (${known.join(', ') || 'none configured'}), received "${productKey}"`),
  unknownDevice: (key: string) => new GatewayError('GATEWAY_UNKNOWN_DEVICE', `device: expected a sub-device the agent knows, received "${key}"`),
  invalid: (field: string, expected: string, received: string) => new GatewayError('GATEWAY_INVALID_DEVICE', `${field}: expected ${expected}, received ${received}`),
};
