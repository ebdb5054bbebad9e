/**
 * simulator.config.json: its JSON Schema (defaults included) and the TypeScript shape it validates to.
 * Every leaf carries an `expected` text so a validation error reads as one line naming the key:
 * `simulator.config.json: http.port: expected integer 0..65535, received "abc"`.
 */

/** Cloud API actions that can be rate-limited. */
export const THROTTLED_ACTIONS = [
  'SetDeviceProperty',
  'SetDevicesProperty',
  'RRpc',
  'InvokeThingService',
  'InvokeThingsService',
  'Pub',
  'GetDeviceStatus',
  'QueryDevicePropertyStatus',
  'QueryDeviceEventData',
  'QueryDevicePropertyData',
  'RegisterDevice',
  'CreateThingScript',
  'UpdateThingScript',
  'GetThingScript',
  'SaveDeviceProp',
  'QueryDeviceProp',
  'DeleteDeviceProp',
  'SetDeviceDesiredProperty',
  'QueryDeviceDesiredProperty',
  'UpdateDeviceShadow',
  'GetDeviceShadow',
  'CreateOTAModule',
  'GenerateOTAUploadURL',
  'CreateOTAFirmware',
  'QueryOTAFirmware',
  'CreateOTAStaticUpgradeJob',
  'CreateOTADynamicUpgradeJob',
  'QueryOTAJob',
  'ListOTAJobByFirmware',
  'ListOTATaskByJob',
  'CancelOTATaskByJob',
  'ListOTAUnfinishedTaskByDevice',
  'ConfirmOTATask',
  'ListOTAModuleVersionsByDevice',
  'BatchAddThingTopo',
  'GetThingTopo',
  'RemoveThingTopo',
  'GetGatewayBySubDevice',
  'NotifyAddThingTopo',
  'DisableThing',
  'EnableThing',
  'DeleteDevice',
  'BatchGetDeviceState',
] as const;
export type ThrottledAction = (typeof THROTTLED_ACTIONS)[number];

export interface AccessKeyConfig {
  id: string;
  secret: string;
}

export interface ProductConfig {
  /** Defaults to the TSL's profile.productKey. */
  productKey?: string;
  /** Path of the TSL file; relative paths are resolved against the config file's folder. */
  tsl: string;
  /**
   * `alink` (default): devices speak Alink JSON. `custom`: devices send and receive bytes on `thing/model/*_raw`,
   * turned into Alink JSON by the product's parse script (CreateThingScript; docs/protocol/raw-data.md).
   */
  dataFormat?: 'alink' | 'custom';
  /** `direct` (default) connects itself; `gateway` speaks for sub-devices; `sub` is reached through a gateway (docs/protocol/gateway-platform.md). */
  nodeType?: 'direct' | 'gateway' | 'sub';
  /** Sub-device products: whether `thing.sub.register` may hand out secrets [false]. */
  dynamicRegistration?: boolean;
  /** With dynamicRegistration: the secret `thing.proxy.provisioning.product_register` signs with. */
  productSecret?: string;
}

export interface DeviceConfig {
  productKey: string;
  deviceName: string;
  deviceSecret: string;
}

export interface ServiceClientConfig {
  username: string;
  password: string;
}

export interface SimulatorConfig {
  http: {
    host: string;
    port: number;
    maxBodyBytes: number;
    maxHeaderBytes: number;
    timestampSkewSeconds: number;
    nonceCacheSize: number;
  };
  mqtt: {
    mode: 'embedded' | 'managed' | 'external';
    host: string;
    port: number;
    url?: string;
    clientId?: string;
    presenceWindowSeconds: number;
    maxPayloadBytes: number;
    maxSubscriptions: number;
    keepaliveMin: number;
    keepaliveMax: number;
    downstreamQos: 0 | 1;
    serviceClients: ServiceClientConfig[];
  };
  accessKeys: AccessKeyConfig[];
  products: ProductConfig[];
  devices: DeviceConfig[];
  cloudValidation: boolean;
  limits: {
    qps: Partial<Record<ThrottledAction, number>>;
    throttleHttpStatus: 400 | 429;
    eventHistory: number;
    replyHistory: number;
    syncServiceTimeoutMs: number;
  };
  gateway: {
    /** Topology entries per gateway (6400 beyond). */
    maxSubDevices: number;
    /** Sub-devices online at once per gateway (428 beyond). */
    maxOnlineSubDevices: number;
  };
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
}

type DeepPartial<T> = T extends (infer U)[] ? DeepPartial<U>[] : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/** What a caller may pass: every key with a default may be left out. */
export type SimulatorConfigInput = DeepPartial<SimulatorConfig> & {
  accessKeys: AccessKeyConfig[];
  products: ProductConfig[];
};

const int = (min: number, max: number, dflt?: number) => ({
  type: 'integer',
  minimum: min,
  maximum: max,
  ...(dflt === undefined ? {} : { default: dflt }),
  expected: `integer ${min}..${max}`,
});
const str = (expected: string, extra: Record<string, unknown> = {}) => ({ type: 'string', minLength: 1, expected, ...extra });

const qpsProperties = Object.fromEntries(THROTTLED_ACTIONS.map((a) => [a, int(1, 1_000_000)]));

export const configSchema = {
  type: 'object',
  expected: 'an object',
  additionalProperties: false,
  required: ['accessKeys', 'products'],
  properties: {
    $schema: { type: 'string', expected: 'a string' },
    http: {
      type: 'object',
      expected: 'an object',
      default: {},
      additionalProperties: false,
      properties: {
        host: str('a host name or IP address', { default: '127.0.0.1' }),
        port: int(0, 65535, 0),
        maxBodyBytes: int(1024, 64 * 1024 * 1024, 1024 * 1024),
        maxHeaderBytes: int(16 * 1024, 16 * 1024 * 1024, 512 * 1024),
        timestampSkewSeconds: int(1, 86400, 900),
        nonceCacheSize: int(1, 10_000_000, 200_000),
      },
    },
    mqtt: {
      type: 'object',
      expected: 'an object',
      default: {},
      additionalProperties: false,
      properties: {
        mode: { enum: ['embedded', 'managed', 'external'], default: 'embedded', expected: '"embedded", "managed" or "external"' },
        host: str('a host name or IP address', { default: '127.0.0.1' }),
        port: int(0, 65535, 0),
        url: str('an MQTT URL such as "mqtt://127.0.0.1:1883"', { pattern: '^(mqtt|mqtts|tcp|tls|ws|wss)://' }),
        clientId: str('an MQTT client id'),
        presenceWindowSeconds: int(1, 86400, 90),
        maxPayloadBytes: int(1, 64 * 1024 * 1024, 256 * 1024),
        maxSubscriptions: int(1, 100_000, 100),
        keepaliveMin: int(0, 65535, 30),
        keepaliveMax: int(0, 65535, 1200),
        downstreamQos: { enum: [0, 1], default: 1, expected: '0 or 1' },
        serviceClients: {
          type: 'array',
          expected: 'a list of {username, password}',
          default: [],
          items: {
            type: 'object',
            expected: 'an object {username, password}',
            additionalProperties: false,
            required: ['username', 'password'],
            properties: { username: str('a user name'), password: str('a password') },
          },
        },
      },
    },
    accessKeys: {
      type: 'array',
      expected: 'a non-empty list of {id, secret}',
      minItems: 1,
      items: {
        type: 'object',
        expected: 'an object {id, secret}',
        additionalProperties: false,
        required: ['id', 'secret'],
        properties: { id: str('an AccessKey id'), secret: str('an AccessKey secret') },
      },
    },
    products: {
      type: 'array',
      expected: 'a list of {productKey?, tsl, dataFormat?, nodeType?, dynamicRegistration?, productSecret?}',
      items: {
        type: 'object',
        expected: 'an object {productKey?, tsl, dataFormat?, nodeType?, dynamicRegistration?, productSecret?}',
        additionalProperties: false,
        required: ['tsl'],
        properties: {
          productKey: str('a product key of letters and digits', { pattern: '^[A-Za-z0-9]+$' }),
          tsl: str('the path of a TSL JSON file'),
          dataFormat: { type: 'string', enum: ['alink', 'custom'], expected: '"alink" or "custom"' },
          nodeType: { type: 'string', enum: ['direct', 'gateway', 'sub'], expected: '"direct", "gateway" or "sub"' },
          dynamicRegistration: { type: 'boolean', expected: 'true or false' },
          productSecret: str('a product secret'),
        },
      },
    },
    devices: {
      type: 'array',
      expected: 'a list of {productKey, deviceName, deviceSecret}',
      default: [],
      items: {
        type: 'object',
        expected: 'an object {productKey, deviceName, deviceSecret}',
        additionalProperties: false,
        required: ['productKey', 'deviceName', 'deviceSecret'],
        properties: {
          productKey: str('a product key of letters and digits', { pattern: '^[A-Za-z0-9]+$' }),
          deviceName: str('4..32 characters of letters, digits, - _ @ . :', { pattern: '^[A-Za-z0-9_@.:-]{4,32}$' }),
          deviceSecret: str('a device secret'),
        },
      },
    },
    cloudValidation: { type: 'boolean', default: true, expected: 'true or false' },
    limits: {
      type: 'object',
      expected: 'an object',
      default: {},
      additionalProperties: false,
      properties: {
        qps: {
          type: 'object',
          expected: `an object mapping ${THROTTLED_ACTIONS.join(', ')} to requests per second`,
          default: { RRpc: 1000, Pub: 1600, SetDeviceProperty: 500, InvokeThingService: 500 },
          additionalProperties: false,
          properties: qpsProperties,
        },
        throttleHttpStatus: { enum: [400, 429], default: 429, expected: '400 or 429' },
        eventHistory: int(1, 1_000_000, 100),
        replyHistory: int(1, 1_000_000, 1000),
        syncServiceTimeoutMs: int(100, 60_000, 5000),
      },
    },
    gateway: {
      type: 'object',
      expected: 'an object',
      default: {},
      additionalProperties: false,
      properties: {
        maxSubDevices: int(1, 1_000_000, 2000),
        maxOnlineSubDevices: int(1, 1_000_000, 2000),
      },
    },
    log: {
      type: 'object',
      expected: 'an object',
      default: {},
      additionalProperties: false,
      properties: {
        level: {
          enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
          default: 'info',
          expected: 'one of fatal, error, warn, info, debug, trace, silent',
        },
      },
    },
  },
} as const;
