/**
 * The Thing Model (TSL) as this project holds it after loading (docs/protocol/tsl.md). The shape follows
 * Alibaba's export format so that a TSL file and a loaded model read the same: numbers inside `specs` stay the
 * strings the export carries ("5", "0.1"); the loader has already checked that they parse.
 */

/** Numeric specs of int, float and double. All values are decimal strings, as in the export. */
export interface NumericSpecs {
  /** Inclusive lower bound. Absent only on array items exported without specs. */
  min?: string;
  /** Inclusive upper bound. Absent only on array items exported without specs. */
  max?: string;
  /** Values must be `min + k·step` (checked unless `enforceStep: false`). */
  step?: string;
  unit?: string;
  unitName?: string;
}

/** `int`: a JSON integer. */
export interface IntType {
  type: 'int';
  specs: NumericSpecs;
}

/** `float` (single precision by name) and `double`: a finite JSON number. */
export interface FloatType {
  type: 'float' | 'double';
  specs: NumericSpecs;
}

/** `text`: a JSON string of at most `length` Unicode code points. */
export interface TextType {
  type: 'text';
  specs: { length: string };
}

/** `date`: a string of decimal digits holding UTC milliseconds. Export specs `{}` or `[]` are normalised to `{}`. */
export interface DateType {
  type: 'date';
  specs: Record<string, never>;
}

/** `bool`: the JSON integer 0 or 1; specs map "0" and "1" to labels. */
export interface BoolType {
  type: 'bool';
  specs: Record<string, string>;
}

/** `enum`: a JSON integer whose decimal string is a key of `specs` (key → label). */
export interface EnumType {
  type: 'enum';
  specs: Record<string, string>;
}

/** `struct`: a JSON object with exactly the listed members. */
export interface StructType {
  type: 'struct';
  specs: ParamDef[];
}

/** The element type of an array. Exports sometimes omit an item's `specs`; the loader then puts `{}`. */
export type ArrayItemType = IntType | FloatType | TextType | StructType;

/** `array`: a JSON array of at most `size` elements, each an `item`. */
export interface ArrayType {
  type: 'array';
  specs: { size: string; item: ArrayItemType };
}

/** One TSL data type. */
export type DataType = IntType | FloatType | TextType | DateType | BoolType | EnumType | StructType | ArrayType;

/** The `type` names of {@link DataType}. */
export type DataTypeName = DataType['type'];

/** A struct member, service input/output parameter or event output parameter. */
export interface ParamDef {
  identifier: string;
  name: string;
  desc?: string;
  dataType: DataType;
}

/** A property. `required` marks template features; it does not make the property mandatory in a post or set. */
export interface PropertyDef {
  identifier: string;
  name: string;
  accessMode: 'r' | 'rw';
  required: boolean;
  desc?: string;
  dataType: DataType;
}

/** A service; `sync` ones arrive over RRPC, `async` ones on `thing/service/{id}`. */
export interface ServiceDef {
  identifier: string;
  name: string;
  callType: 'sync' | 'async';
  /** `thing.service.{identifier}` */
  method: string;
  required: boolean;
  desc?: string;
  inputData: ParamDef[];
  outputData: ParamDef[];
}

/** An event, posted on `thing/event/{id}/post` with `params.value` holding its output. */
export interface EventDef {
  identifier: string;
  name: string;
  type: 'info' | 'alert' | 'error';
  /** `thing.event.{identifier}.post` */
  method: string;
  required: boolean;
  desc?: string;
  outputData: ParamDef[];
}

/**
 * A checked Thing Model. The implicit entries real exports carry (service `set`, service `get`, event `post`)
 * are not in `services`/`events`: the agent handles them itself.
 */
export interface ThingModel {
  productKey: string;
  /** `profile.version` when the export has one (most real exports do not). */
  version?: string;
  properties: PropertyDef[];
  services: ServiceDef[];
  events: EventDef[];
}

/** Options of {@link compileThingModel}. */
export interface CompileOptions {
  /** Reject numbers that are not `min + k·step`. Default true ([POLICY]; the platform does not document it). */
  enforceStep?: boolean;
  /** Accept structs with members missing. Default false ([POLICY]; partial structs are not documented). */
  partialStructs?: boolean;
}

/** Why a field was rejected. */
export type FieldErrorReason =
  | 'unknown'
  | 'readOnly'
  | 'type'
  | 'range'
  | 'step'
  | 'length'
  | 'enum'
  | 'date'
  | 'missing'
  | 'size'
  | 'notObject';

/** One rejected field of a payload. */
export interface FieldError {
  /** Path of the field: `ReportInterval`, `AlarmThresholds.TempHigh`, `UploadHours[6]`; `params` for the whole payload. */
  field: string;
  reason: FieldErrorReason;
  /** What the Thing Model asks for, e.g. `integer in [5, 3600]`. */
  expected: string;
  /** What arrived, rendered as JSON (truncated when long). */
  received: string;
  /** `{field}: expected {expected}, received {received}` (or the reason's wording). */
  message: string;
}

/**
 * The result of a validation: the value when valid, otherwise code 460 and one {@link FieldError} per bad
 * field; `message` joins the field messages with '; '.
 */
export type Validation<T> = { ok: true; value: T } | { ok: false; code: number; errors: FieldError[]; message: string };

/** One problem of a malformed TSL: its JSON path (`properties[3].dataType.specs.max`) and what was expected. */
export interface TslProblem {
  path: string;
  message: string;
}
