/**
 * JSON Schemas of payload values, one per TSL data type, for ajv's fast structural check. The precise
 * per-field messages come from `field-check.ts`, which states the same rules; the two are kept equal by tests.
 */
import { _, type KeywordCxt, type KeywordDefinition } from 'ajv';
import { exactIntegerStep, numericRule, stepTolerance } from './numeric';
import type { CompileOptions, DataType, ParamDef } from './types';

/** A date value: a string of decimal digits holding UTC ms, at most 15 digits so that it stays a safe integer. */
export const DATE_RE = /^[0-9]{1,15}$/;

/** Integer keys of an enum whose decimal string is the key itself ("01" matches no JSON integer). */
export function enumKeys(specs: Record<string, string>): number[] {
  return Object.keys(specs)
    .filter((k) => String(Number(k)) === k)
    .map(Number);
}

/** Schema of the custom `tslStep` keyword: the value must be `base + k·step`. */
export interface StepKeyword {
  base: number;
  step: number;
  type: 'int' | 'float' | 'double';
}

/**
 * The `tslStep` keyword, registered on each compiled model's ajv instance. It generates inline code (no function
 * call, no allocation per value) computing exactly what `isOnStep` computes; the walker uses `isOnStep`.
 */
export const tslStepKeyword: KeywordDefinition = {
  keyword: 'tslStep',
  type: 'number',
  schemaType: 'object',
  metaSchema: {
    type: 'object',
    required: ['base', 'step', 'type'],
    properties: { base: { type: 'number' }, step: { type: 'number', exclusiveMinimum: 0 }, type: { enum: ['int', 'float', 'double'] } },
    additionalProperties: false,
  },
  code(cxt: KeywordCxt) {
    const { base, step, type } = cxt.schema as StepKeyword;
    const d = cxt.data;
    if (exactIntegerStep(base, step, type)) {
      cxt.fail(_`(${d} - ${base}) % ${step} !== 0`);
    } else {
      const { floor, perUnit } = stepTolerance(type);
      const k = _`(${d} - ${base}) / ${step}`;
      cxt.fail(_`Math.abs(${k} - Math.round(${k})) > ${floor} + ${perUnit} * (Math.abs(${d}) + ${Math.abs(base)}) / ${step}`);
    }
  },
};

/** Schema options derived from {@link CompileOptions}. */
export interface SchemaOptions {
  enforceStep: boolean;
  partialStructs: boolean;
}

export function schemaOptions(opts: CompileOptions | undefined): SchemaOptions {
  return { enforceStep: opts?.enforceStep ?? true, partialStructs: opts?.partialStructs ?? false };
}

/** The schema of one value of `dt`. */
export function valueSchema(dt: DataType, o: SchemaOptions): object {
  switch (dt.type) {
    case 'int':
    case 'float':
    case 'double': {
      const r = numericRule(dt);
      return {
        type: dt.type === 'int' ? 'integer' : 'number',
        ...(r.min !== undefined ? { minimum: r.min } : {}),
        ...(r.max !== undefined ? { maximum: r.max } : {}),
        ...(o.enforceStep && r.step !== undefined ? { tslStep: { base: r.min ?? 0, step: r.step, type: dt.type } } : {}),
      };
    }
    case 'text':
      // ajv counts maxLength in Unicode code points (its `unicode` option is on by default).
      return { type: 'string', maxLength: Number(dt.specs.length) };
    case 'date':
      return { type: 'string', pattern: DATE_RE.source };
    case 'bool':
      return { type: 'integer', enum: [0, 1] };
    case 'enum':
      return { type: 'integer', enum: enumKeys(dt.specs) };
    case 'struct':
      return objectSchema(dt.specs, o, !o.partialStructs);
    case 'array':
      return { type: 'array', maxItems: Number(dt.specs.size), items: valueSchema(dt.specs.item, o) };
  }
}

/** An object holding exactly the listed members (all of them when `allRequired`). */
export function objectSchema(members: ParamDef[], o: SchemaOptions, allRequired: boolean): object {
  const properties: Record<string, object> = {};
  for (const m of members) properties[m.identifier] = valueSchema(m.dataType, o);
  return {
    type: 'object',
    properties,
    ...(allRequired && members.length > 0 ? { required: members.map((m) => m.identifier) } : {}),
    additionalProperties: false,
  };
}
