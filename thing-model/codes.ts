/**
 * The one table of Alink result codes (docs/protocol/codes.md): the codes the agent puts in its own replies and the
 * codes the platform may answer with in a `_reply`. Each entry says what it means and where that is documented.
 * `CODES.md` prints the same table; `codes.test.ts` keeps the two in sync.
 */
import type { FieldError, TslProblem } from './types';

/** Named Alink codes. Values are fixed by the platform; names are ours. */
export const AlinkCodes = {
  // Codes the device sends (and the platform also uses with the same meaning).
  SUCCESS: 200,
  REQUEST_ERROR: 400,
  TOO_MANY_REQUESTS: 429,
  PARAM_ERROR: 460,
  DEVICE_DEFINED_MIN: 100000,
  DEVICE_DEFINED_MAX: 110000,
  // Codes the platform sends.
  TOPO_SIGN_CHECK_FAILED: 401,
  KICKED_OFF: 427,
  TOO_MANY_SUB_DEVICES_ONLINE: 428,
  PLATFORM_UNKNOWN_ERROR: 500,
  SUB_DEVICE_SESSION_ERROR: 520,
  SUB_DEVICE_DELETED: 521,
  SUB_DEVICE_DISABLED: 522,
  SUB_DEVICE_DUPLICATE_LOGIN: 527,
  PRODUCT_LOOKUP_FAILED: 5005,
  LORAWAN_METADATA_LOOKUP_FAILED: 5244,
  DEVICE_LOOKUP_FAILED: 6100,
  DESIRED_TOO_MANY_IDENTIFIERS: 6104,
  POST_TOO_MANY_PROPERTIES: 6106,
  SCRIPT_RELATION_MISSING: 6200,
  SCRIPT_RETURNED_NOTHING: 6201,
  TOPIC_PARSE_FAILED: 6203,
  DEVICE_DISABLED: 6204,
  PRODUCT_PROPERTY_NOT_EXIST: 6206,
  DEVICE_DATA_FORMAT_ERROR: 6207,
  THING_STATUS_PROHIBITED: 6208,
  THING_NOT_ACTIVE: 6209,
  PRODUCT_NOT_FOUND: 6250,
  BAD_SUB_DEVICE_NAME: 6280,
  SUB_DEVICE_BAD_SIGN: 6287,
  DYNAMIC_REGISTRATION_OFF: 6288,
  DEVICE_ALREADY_ACTIVATED: 6289,
  SIGN_METHOD_UNSUPPORTED: 6292,
  TSL_METHOD_NOT_EXIST: 6300,
  TSL_PARAMS_NOT_OBJECT: 6301,
  TSL_PARAMS_EMPTY: 6302,
  TSL_PARAMS_COUNT_ERROR: 6303,
  TSL_PARAM_NOT_IN_TSL: 6304,
  TSL_PARAM_TYPE_ERROR: 6305,
  TSL_INT_SPECS_ERROR: 6306,
  TSL_FLOAT_SPECS_ERROR: 6307,
  TSL_BOOL_SPECS_ERROR: 6308,
  TSL_ENUM_SPECS_ERROR: 6309,
  TSL_TEXT_SPECS_ERROR: 6310,
  TSL_DATE_SPECS_ERROR: 6311,
  TSL_STRUCT_SPECS_ERROR: 6312,
  TSL_SERVICE_NOT_AVAILABLE: 6313,
  TSL_DATA_TYPE_PARSE_ERROR: 6314,
  TSL_DATA_NOT_SATISFYING: 6315,
  TSL_SPECS_NUMBER_FORMAT_ERROR: 6316,
  TSL_TEMPLATE_ERROR: 6317,
  PRODUCT_HAS_NO_PROPERTY: 6320,
  IDENTIFIER_EMPTY: 6321,
  TSL_DOUBLE_SPECS_ERROR: 6322,
  POST_CODE_6323: 6323,
  POST_CODE_6324: 6324,
  POST_CODE_6325: 6325,
  POST_CODE_6326: 6326,
  POST_CODE_6328: 6328,
  PACK_TOO_MANY_EVENTS: 6356,
  PACK_TOO_MANY_SUB_DEVICES: 6357,
  GATEWAY_TOO_MANY_SUB_DEVICES: 6400,
  NO_TOPOLOGY: 6401,
  GATEWAY_CANNOT_ADD_ITSELF: 6402,
  METHOD_NOT_EXIST: 6450,
  SIGN_CHECK_FAILED: 6600,
  SUB_DEVICE_BOUND_ELSEWHERE: 6619,
  DESIRED_QUERY_FAILED: 6661,
  CONFIG_OTA_6710: 6710,
  CONFIG_OTA_6713: 6713,
  PLATFORM_EXCEPTION: 6760,
  CONFIG_OTA_9112: 9112,
  SCRIPT_NOT_FOUND: 26001,
  SCRIPT_ERROR: 26002,
  SCRIPT_MISSING_FUNCTIONS: 26006,
  SCRIPT_BAD_OUTPUT: 26007,
  SCRIPT_THROTTLED: 26010,
} as const;

/** A name of {@link AlinkCodes}. */
export type AlinkCodeName = keyof typeof AlinkCodes;

/** Who puts the code in a reply: the device (our agent), the platform, or both with the same meaning. */
export type CodeSender = 'device' | 'cloud' | 'both';

/** One row of the code table. */
export interface CodeInfo {
  name: AlinkCodeName;
  code: number;
  sender: CodeSender;
  meaning: string;
  /** Evidence tags of docs/protocol/README.md ([DOC], [DOC-codes], [C3], [C4], [ND]: meaning not documented), then the page and section. */
  source: string;
}

const row = (name: AlinkCodeName, sender: CodeSender, meaning: string, source: string): CodeInfo =>
  Object.freeze({ name, code: AlinkCodes[name], sender, meaning, source });

/** Every code with its meaning and source, in code order (the device-defined range as its two bounds). */
export const CODE_TABLE: readonly CodeInfo[] = Object.freeze([
  row('SUCCESS', 'both', 'success: request handled', '[DOC] codes.md#codes-the-device-sends'),
  row('REQUEST_ERROR', 'both', 'request error: internal error while handling (handler failure)', '[DOC] codes.md#codes-the-device-sends'),
  row('TOPO_SIGN_CHECK_FAILED', 'cloud', 'topo/add signature check failed', '[DOC-codes] codes.md#codes-from-the-platform'),
  row('KICKED_OFF', 'cloud', 'sub-device kicked (exact meaning not documented)', '[C3][ND] codes.md#codes-from-the-platform'),
  row('TOO_MANY_SUB_DEVICES_ONLINE', 'cloud', 'too many sub-devices online', '[C3][DOC-codes] codes.md#codes-from-the-platform'),
  row('TOO_MANY_REQUESTS', 'both', 'too many requests: device busy or throttled', '[DOC] codes.md#codes-the-device-sends'),
  row('PARAM_ERROR', 'both', 'request parameter error: input failed validation (type, range, unknown id, read-only, ...)', '[DOC] codes.md#codes-the-device-sends'),
  row('PLATFORM_UNKNOWN_ERROR', 'cloud', 'unknown platform error', '[DOC] codes.md#codes-from-the-platform'),
  row('SUB_DEVICE_SESSION_ERROR', 'cloud', 'sub-device session missing (no active session)', '[C3][DOC-codes] codes.md#codes-from-the-platform'),
  row('SUB_DEVICE_DELETED', 'cloud', 'sub-device deleted', '[C3][DOC-codes] codes.md#codes-from-the-platform'),
  row('SUB_DEVICE_DISABLED', 'cloud', 'sub-device disabled', '[C3][DOC-codes] codes.md#codes-from-the-platform'),
  row('SUB_DEVICE_DUPLICATE_LOGIN', 'cloud', 'sub-device logged in by another connection', '[DOC-codes] connecting.md#logging-in-twice'),
  row('PRODUCT_LOOKUP_FAILED', 'cloud', 'product lookup failed (check productKey)', '[DOC] codes.md#codes-from-the-platform'),
  row('LORAWAN_METADATA_LOOKUP_FAILED', 'cloud', 'LoRaWAN product metadata lookup failed', '[DOC] codes.md#codes-from-the-platform'),
  row('DEVICE_LOOKUP_FAILED', 'cloud', 'device lookup failed / sub-device not found', '[DOC] codes.md#codes-from-the-platform'),
  row('DESIRED_TOO_MANY_IDENTIFIERS', 'cloud', 'more than 200 identifiers in one desired request', '[DOC-codes] codes.md#codes-from-the-platform'),
  row('POST_TOO_MANY_PROPERTIES', 'cloud', 'more than 200 properties in one post', '[DOC-codes][C3] codes.md#codes-from-the-platform'),
  row('SCRIPT_RELATION_MISSING', 'cloud', 'data-parsing script relation missing', '[C3] codes.md#codes-from-the-platform'),
  row('SCRIPT_RETURNED_NOTHING', 'cloud', 'data-parsing script returned nothing', '[C3] codes.md#codes-from-the-platform'),
  row('TOPIC_PARSE_FAILED', 'cloud', 'topic parse failed', '[DOC] codes.md#codes-from-the-platform'),
  row('DEVICE_DISABLED', 'cloud', 'device disabled', '[DOC] codes.md#codes-from-the-platform'),
  row('PRODUCT_PROPERTY_NOT_EXIST', 'cloud', 'product property does not exist', '[C3] codes.md#codes-from-the-platform'),
  row('DEVICE_DATA_FORMAT_ERROR', 'cloud', 'device data format error', '[C3] codes.md#codes-from-the-platform'),
  row('THING_STATUS_PROHIBITED', 'cloud', 'thing status prohibited', '[C3] codes.md#codes-from-the-platform'),
  row('THING_NOT_ACTIVE', 'cloud', 'thing not active', '[C3] codes.md#codes-from-the-platform'),
  row('PRODUCT_NOT_FOUND', 'cloud', 'product lookup failed (check productKey)', '[DOC] codes.md#codes-from-the-platform'),
  row('BAD_SUB_DEVICE_NAME', 'cloud', 'bad sub-device name', '[DOC-codes] codes.md#codes-from-the-platform'),
  row('SUB_DEVICE_BAD_SIGN', 'cloud', 'sub-device signature wrong', '[C3][DOC-codes] codes.md#codes-from-the-platform'),
  row('DYNAMIC_REGISTRATION_OFF', 'cloud', 'dynamic registration is off for the product', '[DOC-codes] codes.md#codes-from-the-platform'),
  row('DEVICE_ALREADY_ACTIVATED', 'cloud', 'device already activated (re-registration refused)', '[DOC-codes] codes.md#codes-from-the-platform'),
  row('SIGN_METHOD_UNSUPPORTED', 'cloud', 'sign method unsupported', '[DOC-codes] codes.md#codes-from-the-platform'),
  row('TSL_METHOD_NOT_EXIST', 'cloud', 'TSL: method does not exist', '[C3] codes.md#codes-from-the-platform'),
  row('TSL_PARAMS_NOT_OBJECT', 'cloud', 'TSL: params must be an object or array', '[C3] codes.md#codes-from-the-platform'),
  row('TSL_PARAMS_EMPTY', 'cloud', 'TSL: params value empty', '[C3] codes.md#codes-from-the-platform'),
  row('TSL_PARAMS_COUNT_ERROR', 'cloud', 'TSL: params count error', '[C3] codes.md#codes-from-the-platform'),
  row('TSL_PARAM_NOT_IN_TSL', 'cloud', 'TSL: parameter not in the TSL', '[C3] codes.md#codes-from-the-platform'),
  row('TSL_PARAM_TYPE_ERROR', 'cloud', 'TSL: parameter type error', '[C3] codes.md#codes-from-the-platform'),
  row('TSL_INT_SPECS_ERROR', 'cloud', 'TSL: int value violates its specs', '[C3] codes.md#codes-from-the-platform'),
  row('TSL_FLOAT_SPECS_ERROR', 'cloud', 'TSL: float value violates its specs', '[C3] codes.md#codes-from-the-platform'),
  row('TSL_BOOL_SPECS_ERROR', 'cloud', 'TSL: bool value violates its specs', '[C3] codes.md#codes-from-the-platform'),
  row('TSL_ENUM_SPECS_ERROR', 'cloud', 'TSL: enum value violates its specs', '[C3] codes.md#codes-from-the-platform'),
  row('TSL_TEXT_SPECS_ERROR', 'cloud', 'TSL: text value violates its specs', '[C3] codes.md#codes-from-the-platform'),
  row('TSL_DATE_SPECS_ERROR', 'cloud', 'TSL: date value violates its specs', '[C3] codes.md#codes-from-the-platform'),
  row('TSL_STRUCT_SPECS_ERROR', 'cloud', 'TSL: struct value violates its specs', '[C3] codes.md#codes-from-the-platform'),
  row('TSL_SERVICE_NOT_AVAILABLE', 'cloud', 'TSL service not available', '[C3] codes.md#codes-from-the-platform'),
  row('TSL_DATA_TYPE_PARSE_ERROR', 'cloud', 'TSL: data type parse error', '[C3] codes.md#codes-from-the-platform'),
  row('TSL_DATA_NOT_SATISFYING', 'cloud', 'TSL: data does not satisfy the TSL', '[C3] codes.md#codes-from-the-platform'),
  row('TSL_SPECS_NUMBER_FORMAT_ERROR', 'cloud', 'TSL: specs number format error', '[C3] codes.md#codes-from-the-platform'),
  row('TSL_TEMPLATE_ERROR', 'cloud', 'TSL template error; the agent also uses it for a malformed TSL file (TslError)', '[C3] codes.md#codes-from-the-platform'),
  row('PRODUCT_HAS_NO_PROPERTY', 'cloud', 'product has no such property', '[C3] codes.md#codes-from-the-platform'),
  row('IDENTIFIER_EMPTY', 'cloud', 'identifier empty (C SDK 3.x reuses it for "device not in product")', '[C3] codes.md#codes-from-the-platform'),
  row('TSL_DOUBLE_SPECS_ERROR', 'cloud', 'TSL: double value violates its specs', '[C3] codes.md#codes-from-the-platform'),
  row('POST_CODE_6323', 'cloud', 'listed for property/event post; meaning not documented', '[DOC-codes][ND] codes.md#codes-from-the-platform'),
  row('POST_CODE_6324', 'cloud', 'listed for property/event post; meaning not documented', '[DOC-codes][ND] codes.md#codes-from-the-platform'),
  row('POST_CODE_6325', 'cloud', 'listed for property/event post; meaning not documented', '[DOC-codes][ND] codes.md#codes-from-the-platform'),
  row('POST_CODE_6326', 'cloud', 'listed for property/event post; meaning not documented', '[DOC-codes][ND] codes.md#codes-from-the-platform'),
  row('POST_CODE_6328', 'cloud', 'listed for property/event post; meaning not documented', '[DOC-codes][ND] codes.md#codes-from-the-platform'),
  row('PACK_TOO_MANY_EVENTS', 'cloud', 'pack post: more than 200 events', '[DOC-codes] codes.md#codes-from-the-platform'),
  row('PACK_TOO_MANY_SUB_DEVICES', 'cloud', 'pack post: more than 20 sub-devices', '[DOC-codes] codes.md#codes-from-the-platform'),
  row('GATEWAY_TOO_MANY_SUB_DEVICES', 'cloud', 'too many sub-devices on the gateway', '[DOC-codes] codes.md#codes-from-the-platform'),
  row('NO_TOPOLOGY', 'cloud', 'no topology between gateway and sub-device', '[C3][DOC-codes] codes.md#codes-from-the-platform'),
  row('GATEWAY_CANNOT_ADD_ITSELF', 'cloud', 'a gateway cannot add itself as a sub-device', '[DOC-codes] codes.md#codes-from-the-platform'),
  row('METHOD_NOT_EXIST', 'cloud', 'Alink method does not exist (pass-through data parsed without a method)', '[DOC] codes.md#codes-from-the-platform'),
  row('SIGN_CHECK_FAILED', 'cloud', 'signature check failed', '[DOC-codes] codes.md#codes-from-the-platform'),
  row('SUB_DEVICE_BOUND_ELSEWHERE', 'cloud', 'sub-device bound to another gateway', '[DOC-codes] codes.md#codes-from-the-platform'),
  row('DESIRED_QUERY_FAILED', 'cloud', 'desired property query failed', '[DOC-codes] codes.md#codes-from-the-platform'),
  row('CONFIG_OTA_6710', 'cloud', 'remote configuration / OTA error; meaning not documented', '[DOC-codes][ND] codes.md#codes-from-the-platform'),
  row('CONFIG_OTA_6713', 'cloud', 'remote configuration / OTA error; meaning not documented', '[DOC-codes][ND] codes.md#codes-from-the-platform'),
  row('PLATFORM_EXCEPTION', 'cloud', 'platform exception', '[DOC] codes.md#codes-from-the-platform'),
  row('CONFIG_OTA_9112', 'cloud', 'remote configuration / OTA error; meaning not documented', '[DOC-codes][ND] codes.md#codes-from-the-platform'),
  row('SCRIPT_NOT_FOUND', 'cloud', 'data-parsing script: no script', '[DOC] codes.md#codes-from-the-platform'),
  row('SCRIPT_ERROR', 'cloud', 'data-parsing script: script error', '[DOC] codes.md#codes-from-the-platform'),
  row('SCRIPT_MISSING_FUNCTIONS', 'cloud', 'data-parsing script: required functions missing', '[DOC] codes.md#codes-from-the-platform'),
  row('SCRIPT_BAD_OUTPUT', 'cloud', 'data-parsing script: bad script output', '[DOC] codes.md#codes-from-the-platform'),
  row('SCRIPT_THROTTLED', 'cloud', 'data-parsing script: throttled', '[DOC] codes.md#codes-from-the-platform'),
  row('DEVICE_DEFINED_MIN', 'device', 'lowest device-defined code (range 100000–110000, kept apart from cloud codes)', '[DOC] codes.md#codes-the-device-sends'),
  row('DEVICE_DEFINED_MAX', 'device', 'highest device-defined code (range 100000–110000, kept apart from cloud codes)', '[DOC] codes.md#codes-the-device-sends'),
]);

const BY_CODE: ReadonlyMap<number, CodeInfo> = new Map(CODE_TABLE.map((c) => [c.code, c]));

/** The table row of a code, or undefined for codes nobody documented (device-defined codes inside the range included). */
export function codeInfo(code: number): CodeInfo | undefined {
  return BY_CODE.get(code);
}

/** True for 100000..110000, the range reserved for device-specific errors. */
export function isDeviceDefinedCode(code: number): boolean {
  return Number.isInteger(code) && code >= AlinkCodes.DEVICE_DEFINED_MIN && code <= AlinkCodes.DEVICE_DEFINED_MAX;
}

/** True for the codes a device may put in its own replies: 200, 400, 429, 460 and the device-defined range. */
export function isDeviceReplyCode(code: number): boolean {
  return (
    code === AlinkCodes.SUCCESS ||
    code === AlinkCodes.REQUEST_ERROR ||
    code === AlinkCodes.TOO_MANY_REQUESTS ||
    code === AlinkCodes.PARAM_ERROR ||
    isDeviceDefinedCode(code)
  );
}

/**
 * The brand every {@link AlinkError} carries. A registered symbol (`Symbol.for`), so that an error built by a
 * second copy of this module (a plugin installed with its own copy of the API) carries the same brand, where
 * `instanceof` would see an unrelated class.
 */
export const ALINK_ERROR_BRAND: unique symbol = Symbol.for('alink-agent.AlinkError');

/** What the agent needs of an error carrying an Alink code, whichever copy of the API built it. */
export interface AlinkCodedError {
  readonly [ALINK_ERROR_BRAND]: true;
  readonly code: number;
  readonly message: string;
}

/**
 * True for an error that carries an Alink code: branded by {@link AlinkError} (from this copy of the module or
 * another) with a numeric `code`. The agent recognises plugin errors by this, never by `instanceof`.
 */
export function isAlinkError(err: unknown): err is AlinkCodedError {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as Partial<AlinkCodedError>)[ALINK_ERROR_BRAND] === true &&
    typeof (err as Partial<AlinkCodedError>).code === 'number'
  );
}

/** Where an {@link AlinkError} keeps the names of its class and its ancestors, for `instanceof` across copies. */
const ALINK_ERROR_KINDS: unique symbol = Symbol.for('alink-agent.AlinkError.kinds');

/**
 * Base of every coded error. `code` is the Alink code to reply with (or the one the platform replied with).
 * `instanceof` works across copies of this module: `err instanceof HandlerError` is true for a `HandlerError`
 * built by another copy (a plugin with its own copy of the API, or the agent's copy seen from a plugin).
 */
export class AlinkError extends Error implements AlinkCodedError {
  override name = 'AlinkError';
  readonly [ALINK_ERROR_BRAND] = true as const;
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    const kinds: string[] = [];
    for (let c: unknown = new.target; typeof c === 'function' && c !== Error; c = Object.getPrototypeOf(c)) kinds.push((c as { name: string }).name);
    Object.defineProperty(this, ALINK_ERROR_KINDS, { value: kinds });
  }

  /** The class's own check, else the brand and the class name recorded by whichever copy built the error. */
  static override [Symbol.hasInstance](x: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, x)) return true;
    if (!isAlinkError(x)) return false;
    const kinds = (x as { [ALINK_ERROR_KINDS]?: unknown })[ALINK_ERROR_KINDS];
    return Array.isArray(kinds) && kinds.includes(this.name);
  }
}

/** A payload failed Thing Model validation: code 460, one {@link FieldError} per bad field. */
export class ValidationError extends AlinkError {
  override name = 'ValidationError';
  constructor(
    readonly errors: FieldError[],
    message: string = errors.map((e) => e.message).join('; '),
  ) {
    super(AlinkCodes.PARAM_ERROR, message);
  }
}

/**
 * A handler refused or failed: code 400, or a device-defined code in 100000..110000. Any other code is replaced
 * by 400 (a handler must not impersonate a platform code); the code asked for stays in `requestedCode`.
 */
export class HandlerError extends AlinkError {
  override name = 'HandlerError';
  /** The code the handler passed, when it was not a valid handler code. */
  readonly requestedCode?: number;
  constructor(message: string, code: number = AlinkCodes.REQUEST_ERROR) {
    const valid = code === AlinkCodes.REQUEST_ERROR || isDeviceDefinedCode(code);
    super(valid ? code : AlinkCodes.REQUEST_ERROR, message);
    if (!valid) this.requestedCode = code;
  }
}

/** The device is too busy to take the request now: code 429. */
export class ThrottleError extends AlinkError {
  override name = 'ThrottleError';
  constructor(message = 'too many requests') {
    super(AlinkCodes.TOO_MANY_REQUESTS, message);
  }
}

/** The platform answered a request with a non-200 code in its `_reply`. `meaning` comes from {@link CODE_TABLE}. */
export class CloudReplyError extends AlinkError {
  override name = 'CloudReplyError';
  readonly meaning: string | undefined;
  /** The reply's `data`: what failed, where the platform says (a batch login names its failing sub-devices). */
  readonly data: unknown;
  constructor(code: number, message: string, data?: unknown) {
    super(code, message);
    this.meaning = codeInfo(code)?.meaning;
    this.data = data;
  }
}

/**
 * A malformed Thing Model: one problem per mistake, each with its JSON path. Its code is 6317 ("TSL template
 * error"), the platform's own code for a broken TSL; it is never sent in a reply.
 */
export class TslError extends AlinkError {
  override name = 'TslError';
  constructor(readonly problems: TslProblem[]) {
    super(
      AlinkCodes.TSL_TEMPLATE_ERROR,
      `malformed Thing Model (${problems.length} problem${problems.length === 1 ? '' : 's'}): ` +
        problems.map((p) => `${p.path}: ${p.message}`).join('; '),
    );
  }
}
