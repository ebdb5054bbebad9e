/**
 * The `gateway` and `subDevices` sections of agent.config.json (docs/protocol/gateway.md): the sub-devices this
 * gateway speaks for, their products' Thing Models, and how topology and logins are paced. Their schema nodes are
 * here, beside their types, so that schema.ts stays one table of sections.
 */
import { LOGIN_BATCH_MAX, SIGN_METHODS, SUB_LOGINS_PER_SECOND_MAX, TOPO_BATCH_MAX, type SignMethod } from '../../thing-model/wire';
import { otaModulesSchema, type OtaModuleSection } from './ota-section';

/** A product's Thing Model, as `thingModel` of the gateway's own device. */
export interface SubThingModelSection {
  path: string;
  enforceStep: boolean;
  partialStructs: boolean;
}

/** One configured sub-device. Without a secret, the agent asks for one (`thing.sub.register`) when allowed. */
export interface SubDeviceSection {
  productKey: string;
  deviceName: string;
  secret?: string;
  secretEnv?: string;
  secretFile?: string;
  /** The product's TSL; may be left out when `gateway.products` (or another entry of the product) names it. */
  thingModel?: SubThingModelSection;
}

export interface GatewaySection {
  /** Sub-devices per `combine/batch_login` (≤ the platform's 50). */
  loginBatchSize: number;
  /** Sub-device logins per second at most, all batches together (the platform allows 200). */
  loginsPerSecond: number;
  /** Sub-devices per `topo/add` / `topo/delete` (≤ the platform's 30). */
  topoBatchSize: number;
  /** Reconcile topology (`topo/get`, add the missing, delete the removed) after every connect. */
  reconcileTopology: boolean;
  /** Also delete cloud topology entries the agent does not know (another tool's sub-devices are kept otherwise). */
  pruneTopology: boolean;
  /** Sub-devices without a secret get one with `thing.sub.register` (the product must allow dynamic registration). */
  dynamicRegistration: boolean;
  /** HMAC of the sub-device login and topology signatures. */
  signMethod: SignMethod;
  /** Login `cleanSession`: true drops the sub-device's undelivered QoS 1 messages at every login. */
  cleanSession: boolean;
  /** Retry of a login, topology or registration round that failed for a reason a retry can fix. */
  retry: { initialMs: number; maxMs: number };
  /** Thing Models of products whose sub-devices plugins add at run time (`ctx.gateway.add`). */
  products: Record<string, SubThingModelSection>;
  /**
   * The OTA modules of each product's sub-devices (docs/ota.md, "Sub-devices"): `{productKey}` and `{deviceName}`
   * in a version file or command and in install/rollback arguments stand for the sub-device's own.
   */
  otaModules: Record<string, OtaModuleSection[]>;
}

const int = (min: number, max: number, dflt: number) => ({ type: 'integer', minimum: min, maximum: max, default: dflt, expected: `integer in [${min}, ${max}]` });
const bool = (dflt: boolean) => ({ type: 'boolean', default: dflt, expected: 'true or false' });
const str = (expected: string, extra: Record<string, unknown> = {}) => ({ type: 'string', minLength: 1, expected, ...extra });
const thingModel = {
  type: 'object',
  additionalProperties: false,
  required: ['path'],
  expected: 'an object {path, enforceStep?, partialStructs?}',
  properties: { path: str('the path of a TSL JSON file'), enforceStep: bool(true), partialStructs: bool(false) },
};

export const gatewaySchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  expected: 'an object',
  properties: {
    loginBatchSize: int(1, LOGIN_BATCH_MAX, LOGIN_BATCH_MAX),
    // 90 % of the platform's limit: two windows measured on different clocks must not add up past it.
    loginsPerSecond: int(1, SUB_LOGINS_PER_SECOND_MAX, Math.floor(SUB_LOGINS_PER_SECOND_MAX * 0.9)),
    topoBatchSize: int(1, TOPO_BATCH_MAX, TOPO_BATCH_MAX),
    reconcileTopology: bool(true),
    pruneTopology: bool(false),
    dynamicRegistration: bool(false),
    signMethod: { enum: [...SIGN_METHODS], default: 'hmacsha256', expected: 'one of hmacsha256, hmacsha1, hmacmd5' },
    cleanSession: bool(false),
    retry: {
      type: 'object',
      additionalProperties: false,
      default: {},
      expected: 'an object {initialMs, maxMs}',
      properties: { initialMs: int(100, 600_000, 2000), maxMs: int(100, 3_600_000, 60_000) },
    },
    products: {
      type: 'object',
      default: {},
      expected: 'an object mapping product keys to {path, enforceStep?, partialStructs?}',
      propertyNames: { pattern: '^[A-Za-z0-9]+$' },
      additionalProperties: thingModel,
    },
    otaModules: {
      type: 'object',
      default: {},
      expected: 'an object mapping product keys to lists of {name, version, install?, rollback?}',
      propertyNames: { pattern: '^[A-Za-z0-9]+$' },
      additionalProperties: otaModulesSchema,
    },
  },
};

export const subDevicesSchema = {
  type: 'array',
  default: [],
  expected: 'a list of {productKey, deviceName, secret|secretEnv|secretFile, thingModel}',
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['productKey', 'deviceName'],
    expected: 'an object {productKey, deviceName, secret|secretEnv|secretFile, thingModel}',
    properties: {
      productKey: str('a product key of letters and digits', { pattern: '^[A-Za-z0-9]+$' }),
      deviceName: str('4..32 characters of letters, digits, - _ @ . :', { pattern: '^[A-Za-z0-9_@.:-]{4,32}$' }),
      secret: str('the sub-device secret'),
      secretEnv: str('the name of an environment variable', { pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }),
      secretFile: str('the path of a file holding the sub-device secret'),
      thingModel,
    },
  },
};
