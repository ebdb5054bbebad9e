/**
 * `thing.proxy.provisioning.product_register` (docs/protocol/gateway-platform.md, "Registration"): a gateway
 * registers sub-devices with their product's secret. Each item is signed with the ProductSecret over its
 * parameters but `sign` and the sign method, sorted by name (`deviceName{D}productKey{P}random{R}`); a product with
 * dynamic registration and a secret hands out the device's secret, creating the device when its name is new.
 * Items succeed or fail one by one: `data` is `{successes, failures}`.
 */
import type { Logger } from 'pino';
import { AlinkCodes } from '../../thing-model/codes';
import { isPlainObject } from '../../thing-model';
import { DEVICE_NAME_RE, type Registry } from '../registry';
import { checkSubDeviceSign } from './sign-check';

/** Items per request: as many as `thing.sub.register` takes. [POLICY: the limit is not documented] */
export const PRODUCT_REGISTER_MAX = 30;

interface Failure {
  productKey?: unknown;
  deviceName?: unknown;
  code: number;
  message: string;
}

export function productRegister(registry: Registry, params: unknown, logger: Logger): { code: number; data: unknown; message?: string } {
  const list = isPlainObject(params) ? params.proxieds : undefined;
  if (!Array.isArray(list) || list.length === 0 || list.length > PRODUCT_REGISTER_MAX) {
    return { code: AlinkCodes.PARAM_ERROR, data: {}, message: `request error: params.proxieds: expected a list of 1..${PRODUCT_REGISTER_MAX} sub-devices` };
  }
  const successes: { iotId: string; productKey: string; deviceName: string; deviceSecret: string }[] = [];
  const failures: Failure[] = [];
  for (const item of list) {
    const fail = check(registry, item);
    if (fail) {
      failures.push(fail);
      continue;
    }
    const { productKey, deviceName } = item as { productKey: string; deviceName: string };
    const known = registry.device(productKey, deviceName);
    const d = known ?? registry.register(productKey, deviceName);
    if (!known) logger.info({ device: `${productKey}/${deviceName}` }, 'sub-device registered with its product secret');
    successes.push({ iotId: d.iotId, productKey, deviceName, deviceSecret: d.deviceSecret });
  }
  return { code: AlinkCodes.SUCCESS, data: { successes, failures } };
}

function check(registry: Registry, item: unknown): Failure | undefined {
  if (!isPlainObject(item) || typeof item.productKey !== 'string' || typeof item.deviceName !== 'string' || typeof item.random !== 'string' || item.random === '') {
    return { code: AlinkCodes.PARAM_ERROR, message: 'request error: expected productKey, deviceName, random, signMethod and sign', ...(isPlainObject(item) ? { productKey: item.productKey, deviceName: item.deviceName } : {}) };
  }
  const who = { productKey: item.productKey, deviceName: item.deviceName };
  const product = registry.product(item.productKey);
  if (!product) return { ...who, code: AlinkCodes.PRODUCT_NOT_FOUND, message: `product ${item.productKey} not found` };
  if (product.nodeType !== 'sub' || !product.dynamicRegistration || !product.productSecret) {
    return { ...who, code: AlinkCodes.DYNAMIC_REGISTRATION_OFF, message: `dynamic registration is off for product ${item.productKey}` };
  }
  if (!DEVICE_NAME_RE.test(item.deviceName)) return { ...who, code: AlinkCodes.BAD_SUB_DEVICE_NAME, message: 'deviceName: expected 4..32 characters of letters, digits, - _ @ . :' };
  const v = checkSubDeviceSign(item, product.productSecret);
  if (!v.ok) return { ...who, code: AlinkCodes.TOPO_SIGN_CHECK_FAILED, message: v.reason };
  return undefined;
}
