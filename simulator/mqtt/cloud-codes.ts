/**
 * Which cloud code the platform puts in a post `_reply` when a post breaks the Thing Model. The Thing Model's
 * validators answer 460 with field errors (the device-side code); the platform's replies are finer
 * (docs/protocol/codes.md, "Codes from the platform"): 6320 no such property, 6304 parameter not in the TSL, 6305 type error, and one
 * specs code per data type (6306 int, 6307 float, 6322 double, 6308 bool, 6309 enum, 6310 text, 6311 date,
 * 6312 struct). This module maps the first field error to one of those.
 */
import { AlinkCodes } from '../../thing-model';
import type { DataType, FieldError, ParamDef, PropertyDef } from '../../thing-model';

const SPECS_CODE: Record<DataType['type'], number> = {
  int: AlinkCodes.TSL_INT_SPECS_ERROR,
  float: AlinkCodes.TSL_FLOAT_SPECS_ERROR,
  double: AlinkCodes.TSL_DOUBLE_SPECS_ERROR,
  bool: AlinkCodes.TSL_BOOL_SPECS_ERROR,
  enum: AlinkCodes.TSL_ENUM_SPECS_ERROR,
  text: AlinkCodes.TSL_TEXT_SPECS_ERROR,
  date: AlinkCodes.TSL_DATE_SPECS_ERROR,
  struct: AlinkCodes.TSL_STRUCT_SPECS_ERROR,
  array: AlinkCodes.TSL_DATA_NOT_SATISFYING,
};

/** The data type a field path (`AlarmThresholds.TempHigh`, `ChannelReadings[1].Value`) points at. */
export function typeAt(defs: readonly (ParamDef | PropertyDef)[], field: string): DataType | undefined {
  const parts = field.match(/[^.[\]]+|\[\d+\]/g) ?? [];
  const [head, ...rest] = parts;
  let type = defs.find((d) => d.identifier === head)?.dataType;
  for (const part of rest) {
    if (!type) return undefined;
    if (part.startsWith('[')) {
      type = type.type === 'array' ? type.specs.item : undefined;
    } else {
      type = type.type === 'struct' ? type.specs.find((m) => m.identifier === part)?.dataType : undefined;
    }
  }
  return type;
}

/** The cloud code for a rejected post; `defs` are the product's properties or the event's outputData. */
export function cloudCodeFor(error: FieldError | undefined, defs: readonly (ParamDef | PropertyDef)[], what: 'property' | 'event'): number {
  if (!error) return AlinkCodes.PARAM_ERROR;
  switch (error.reason) {
    case 'unknown':
      return what === 'property' ? AlinkCodes.PRODUCT_HAS_NO_PROPERTY : AlinkCodes.TSL_PARAM_NOT_IN_TSL;
    case 'notObject':
      return AlinkCodes.TSL_PARAMS_NOT_OBJECT;
    case 'type':
      return AlinkCodes.TSL_PARAM_TYPE_ERROR;
    case 'size':
      return AlinkCodes.TSL_DATA_NOT_SATISFYING;
    case 'missing':
      // A missing struct member breaks the struct's specs; a missing top-level parameter, the count.
      return /[.[]/.test(error.field) ? AlinkCodes.TSL_STRUCT_SPECS_ERROR : AlinkCodes.TSL_PARAMS_COUNT_ERROR;
    default: {
      const type = typeAt(defs, error.field);
      return type ? SPECS_CODE[type.type] : AlinkCodes.TSL_DATA_NOT_SATISFYING;
    }
  }
}
