/**
 * The Thing Model compiler: loads a TSL export, checks it, compiles its validators and TSL-aware serializers,
 * generates TypeScript types. The innermost layer: imports nothing else of this project.
 */
export type {
  ArrayItemType,
  ArrayType,
  BoolType,
  CompileOptions,
  DataType,
  DataTypeName,
  DateType,
  EnumType,
  EventDef,
  FieldError,
  FieldErrorReason,
  FloatType,
  IntType,
  NumericSpecs,
  ParamDef,
  PropertyDef,
  ServiceDef,
  StructType,
  TextType,
  ThingModel,
  TslProblem,
  Validation,
} from './types';
export { checkTsl, loadThingModel, loadThingModelFile } from './load';
export { compileThingModel, MAX_POST_PROPERTIES, type CompiledThingModel } from './compile';
export { floatText } from './serialize';
export { isPlainObject } from './field-check';
export { generateTypes } from './generate-types';
export { runTslCommand, type TslCommandIo } from './cli';
export {
  ALINK_ERROR_BRAND,
  AlinkCodes,
  AlinkError,
  CloudReplyError,
  CODE_TABLE,
  codeInfo,
  HandlerError,
  isDeviceDefinedCode,
  isAlinkError,
  isDeviceReplyCode,
  ThrottleError,
  TslError,
  ValidationError,
  type AlinkCodedError,
  type AlinkCodeName,
  type CodeInfo,
  type CodeSender,
} from './codes';
export * from './wire';
