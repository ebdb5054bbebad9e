/**
 * The cloud API's error table: every error code the simulator answers with, one constructor each, and the
 * HTTP status that goes with it. simulator/README.md lists the same table; simulator/test/errors.test.ts keeps
 * the two in sync.
 *
 * Two shapes exist because the official SDK treats them differently (docs/protocol/wire-capture.md, "Cloud OpenAPI SDK: responses" and "errors"):
 * - `http` errors travel with a 4xx status and `{RequestId, HostId, Code, Message, Recommend}`; the SDK throws.
 * - `business` errors travel with HTTP 200 and `{RequestId, Success:false, Code, ErrorMessage}`; the SDK returns.
 */

export type ApiErrorKind = 'http' | 'business';

export class ApiError extends Error {
  constructor(
    readonly code: string,
    readonly httpStatus: number,
    message: string,
    readonly kind: ApiErrorKind,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Shows a received value in an error message: quoted, and cut short so a huge parameter stays readable. */
export function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  const s = typeof value === 'string' ? JSON.stringify(value) : safeJson(value);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

const http = (code: string, status: number, message: string) => new ApiError(code, status, message, 'http');
const business = (code: string, message: string) => new ApiError(code, 200, message, 'business');

/** Signature and request-level errors use the gateway's codes; `iot.*` codes are the IoT Platform's own. */
export const ApiErrors = {
  missingParameter: (name: string) =>
    http('MissingParameter', 400, `The input parameter "${name}" that is mandatory for processing this request is not supplied.`),
  invalidParameter: (name: string, expected: string, received: unknown) =>
    http('InvalidParameter', 400, `The parameter ${name} is invalid: expected ${expected}, received ${shown(received)}.`),
  invalidAction: (action: string) =>
    http('InvalidAction.NotFound', 404, `Specified api is not found, please check your url and method: Action ${shown(action)}.`),
  invalidVersion: (received: string) =>
    http('InvalidVersion', 400, `Specified parameter Version is not valid: expected "2018-01-20", received ${shown(received)}.`),
  unsupportedMethod: (method: string) =>
    http('UnsupportedHTTPMethod', 400, `This http method is not supported: expected POST or GET, received ${shown(method)}.`),
  requestTooLarge: (limit: number) =>
    http('RequestEntityTooLarge', 413, `The request body is too large: expected at most ${limit} bytes.`),
  accessKeyNotFound: (id: string) =>
    http('InvalidAccessKeyId.NotFound', 404, `Specified access key is not found: AccessKeyId ${shown(id)}.`),
  incompleteSignature: (detail: string) =>
    http('IncompleteSignature', 400, `The request signature does not conform to Aliyun standards: ${detail}.`),
  signatureMismatch: (detail: string) =>
    http('SignatureDoesNotMatch', 400, `Specified signature is not matched with our calculation: ${detail}.`),
  timestampFormat: (name: string, received: unknown) =>
    http('InvalidTimeStamp.Format', 400, `Specified time stamp or date value is not well formatted: ${name} expected yyyy-MM-ddTHH:mm:ssZ, received ${shown(received)}.`),
  timestampExpired: (name: string, received: string, skewSeconds: number) =>
    http('InvalidTimeStamp.Expired', 400, `Specified time stamp or date value is expired: ${name} ${shown(received)} is more than ${skewSeconds} s away from the server time.`),
  nonceUsed: (nonce: string) =>
    http('SignatureNonceUsed', 400, `Specified signature nonce was used already: ${shown(nonce)}.`),
  throttled: (action: string, qps: number, status: number) =>
    http('Throttling.User', status, `Request was denied due to user flow control: ${action} is limited to ${qps} requests per second per account.`),
  internal: () => http('InternalError', 500, 'The request processing has failed due to some unknown error.'),

  productNotFound: (productKey: string) =>
    business('iot.prod.NotExistedProduct', `The specified product does not exist: ProductKey ${shown(productKey)}.`),
  deviceNotFound: (who: string) => business('iot.device.NotExistedDevice', `The specified device does not exist: ${who}.`),
  deviceExists: (deviceName: string) =>
    business('iot.device.AlreadyExistedDeviceName', `The device name already exists: DeviceName ${shown(deviceName)}.`),
  deviceOffline: (who: string) => business('iot.device.DeviceOffline', `The device is offline: ${who}.`),
  propertyReadOnly: (identifier: string) =>
    business('iot.thing.PropertyReadOnly', `The property is read-only and cannot be set: Items.${identifier}.`),
  invalidItems: (message: string) => business('iot.thing.InvalidFormattedItems', `The property values do not match the Thing Model: ${message}.`),
  serviceNotFound: (identifier: string) =>
    business('iot.thing.NotExistedService', `The service does not exist in the Thing Model: Identifier ${shown(identifier)}.`),
  invalidArgs: (message: string) => business('iot.thing.InvalidFormattedArgs', `The service arguments do not match the Thing Model: ${message}.`),
  serviceTimeout: (identifier: string, ms: number) =>
    business('iot.device.InvokeThingServiceTimeout', `The device did not answer the sync service ${identifier} within ${ms} ms.`),
  serviceFailed: (identifier: string, code: unknown, message: unknown) =>
    business('iot.device.InvokeThingServiceFailed', `The device answered the sync service ${identifier} with code ${shown(code)}${message ? `: ${String(message)}` : ''}.`),
  notCustomFormat: (productKey: string) =>
    business('iot.script.NotCustomFormatProduct', `Parse scripts are only for custom-format products: ProductKey ${shown(productKey)} speaks Alink JSON.`),
  scriptExists: (productKey: string) => business('iot.script.ScriptAlreadyExists', `The product already has a parse script (use UpdateThingScript): ProductKey ${shown(productKey)}.`),
  scriptNotFound: (productKey: string) => business('iot.script.ScriptNotFound', `The product has no parse script: ProductKey ${shown(productKey)}.`),
  scriptTypeUnsupported: (type: unknown) =>
    business('iot.script.UnsupportedScriptType', `The simulator runs JavaScript parse scripts only: ScriptType expected "JavaScript", received ${shown(type)}.`),
  notGateway: (who: string) => business('iot.gateway.NotGatewayDevice', `The device is not of a gateway product: ${who}.`),
  topoAddFailed: (item: number, code: number, message: string) =>
    business('iot.gateway.TopoAddFailed', `TopoAddItem.${item} was refused with Alink code ${code} (${message}); nothing was added.`),
  notSubDevice: (who: string) => business('iot.gateway.NoGateway', `The sub-device has no gateway in the topology: ${who}.`),
  scriptFailed: (code: unknown, message: unknown) => business('iot.script.ScriptRunFailed', `The parse script failed with code ${String(code)}: ${String(message)}.`),
  otaModuleExists: (productKey: string, moduleName: string) =>
    business('iot.ota.ModuleAlreadyExists', `The product already has the OTA module: ProductKey ${shown(productKey)}, ModuleName ${shown(moduleName)}.`),
  otaModuleNotFound: (productKey: string, moduleName: string) =>
    business('iot.ota.NotExistedModule', `The product has no such OTA module (CreateOTAModule first): ProductKey ${shown(productKey)}, ModuleName ${shown(moduleName)}.`),
  otaFirmwareNotFound: (firmwareId: string) => business('iot.ota.NotExistedFirmware', `The update package does not exist: FirmwareId ${shown(firmwareId)}.`),
  otaFirmwareLimit: (max: number) => business('iot.ota.FirmwareCountExceeded', `The instance already holds the most update packages allowed (${max}).`),
  otaJobNotFound: (jobId: string) => business('iot.ota.NotExistedJob', `The update job does not exist: JobId ${shown(jobId)}.`),
  otaDynamicJobExists: (firmwareId: string, jobId: string) =>
    business('iot.ota.DynamicJobAlreadyExists', `The package already has a running dynamic job: FirmwareId ${shown(firmwareId)}, JobId ${shown(jobId)}.`),
  otaTaskNotFound: (taskId: string) => business('iot.ota.NotExistedTask', `The update task does not exist: TaskId ${shown(taskId)}.`),
  otaTaskNotConfirmable: (taskId: string, status: string) =>
    business('iot.ota.TaskNotInConfirmStatus', `The update task does not wait for a confirmation: TaskId ${shown(taskId)} is ${status}, expected CONFIRM.`),
} as const;

/** Every code above, for the documentation check. */
export const API_ERROR_CODES: readonly string[] = [
  'MissingParameter',
  'InvalidParameter',
  'InvalidAction.NotFound',
  'InvalidVersion',
  'UnsupportedHTTPMethod',
  'RequestEntityTooLarge',
  'InvalidAccessKeyId.NotFound',
  'IncompleteSignature',
  'SignatureDoesNotMatch',
  'InvalidTimeStamp.Format',
  'InvalidTimeStamp.Expired',
  'SignatureNonceUsed',
  'Throttling.User',
  'InternalError',
  'iot.prod.NotExistedProduct',
  'iot.device.NotExistedDevice',
  'iot.device.AlreadyExistedDeviceName',
  'iot.device.DeviceOffline',
  'iot.thing.PropertyReadOnly',
  'iot.thing.InvalidFormattedItems',
  'iot.thing.NotExistedService',
  'iot.thing.InvalidFormattedArgs',
  'iot.device.InvokeThingServiceTimeout',
  'iot.device.InvokeThingServiceFailed',
  'iot.script.NotCustomFormatProduct',
  'iot.script.ScriptAlreadyExists',
  'iot.script.ScriptNotFound',
  'iot.script.UnsupportedScriptType',
  'iot.script.ScriptRunFailed',
  'iot.ota.ModuleAlreadyExists',
  'iot.ota.NotExistedModule',
  'iot.ota.NotExistedFirmware',
  'iot.ota.FirmwareCountExceeded',
  'iot.ota.NotExistedJob',
  'iot.ota.DynamicJobAlreadyExists',
  'iot.ota.NotExistedTask',
  'iot.ota.TaskNotInConfirmStatus',
  'iot.gateway.NotGatewayDevice',
  'iot.gateway.TopoAddFailed',
  'iot.gateway.NoGateway',
];
