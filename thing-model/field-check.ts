/**
 * The precise walker: for a payload ajv has refused, one {@link FieldError} per bad field with a message naming
 * the field, what the Thing Model expects and what arrived. It states the same rules as `value-schema.ts` and runs
 * only on the failure path, so building readable messages costs nothing while payloads are valid.
 */
import { isOnStep, numericRule, specDecimals, stepNeighbours } from './numeric';
import { childPath, indexPath, renderValue } from './render';
import type { DataType, FieldError, FieldErrorReason, ParamDef } from './types';
import { DATE_RE, enumKeys, type SchemaOptions } from './value-schema';

/** Appends the errors of one value at `path`. */
export type FieldCheck = (v: unknown, path: string, out: FieldError[]) => void;

/** Builds a {@link FieldError}; `lead` prefixes the message for reasons that are not about the value itself. */
export function fieldError(field: string, reason: FieldErrorReason, expected: string, received: string, lead = ''): FieldError {
  return { field, reason, expected, received, message: `${field}: ${lead}expected ${expected}, received ${received}` };
}

export const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const has = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/** "integer in [5, 3600]", "float in [-40, 85]", "double" (no bounds). */
export function describeType(dt: DataType): string {
  switch (dt.type) {
    case 'int':
    case 'float':
    case 'double': {
      const r = numericRule(dt);
      const name = dt.type === 'int' ? 'integer' : dt.type;
      if (r.min !== undefined && r.max !== undefined) return `${name} in [${r.minText}, ${r.maxText}]`;
      if (r.min !== undefined) return `${name} >= ${r.minText}`;
      if (r.max !== undefined) return `${name} <= ${r.maxText}`;
      return name;
    }
    case 'text':
      return `text of at most ${dt.specs.length} characters`;
    case 'date':
      return 'date as a string of UTC milliseconds such as "1700000000000"';
    case 'bool':
      return `bool 0${label(dt.specs['0'])} or 1${label(dt.specs['1'])}`;
    case 'enum':
      return `one of ${labels(dt.specs)}`;
    case 'struct':
      return dt.specs.length === 0 ? 'an empty struct object' : `a struct object with ${dt.specs.map((m) => m.identifier).join(', ')}`;
    case 'array':
      return `an array of at most ${dt.specs.size} items, each ${describeType(dt.specs.item)}`;
  }
}

const label = (l: string | undefined) => (l ? ` (${l})` : '');

function labels(specs: Record<string, string>): string {
  const entries = Object.entries(specs);
  const shown = entries.slice(0, 10).map(([k, l]) => `${k} (${l})`);
  return entries.length > 10 ? `${shown.join(', ')}, ...` : shown.join(', ');
}

/** Numeric strings are refused on purpose ([POLICY]); say so, since "expected integer, received "30"" puzzles. */
function typeReceived(v: unknown): string {
  const r = renderValue(v);
  return typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? `${r} (a string; numbers must be JSON numbers)` : r;
}

/** Builds the walker of one data type. */
export function fieldCheck(dt: DataType, o: SchemaOptions): FieldCheck {
  const expected = describeType(dt);
  switch (dt.type) {
    case 'int':
    case 'float':
    case 'double': {
      const r = numericRule(dt);
      const isInt = dt.type === 'int';
      const stepOn = o.enforceStep && r.step !== undefined;
      const base = r.min ?? 0;
      const decimals = specDecimals(r.stepText, r.minText);
      return (v, path, out) => {
        if (typeof v !== 'number' || !Number.isFinite(v) || (isInt && !Number.isInteger(v))) {
          out.push(fieldError(path, 'type', expected, typeReceived(v)));
        } else if ((r.min !== undefined && v < r.min) || (r.max !== undefined && v > r.max)) {
          out.push(fieldError(path, 'range', expected, renderValue(v)));
        } else if (stepOn && !isOnStep(v, base, r.step as number, dt.type)) {
          const [lo, hi] = stepNeighbours(v, base, r.step as number, decimals);
          out.push(fieldError(path, 'step', `${expected} in steps of ${r.stepText} from ${r.minText ?? '0'} (e.g. ${lo} or ${hi})`, renderValue(v)));
        }
      };
    }
    case 'text': {
      const max = Number(dt.specs.length);
      return (v, path, out) => {
        if (typeof v !== 'string') {
          out.push(fieldError(path, 'type', expected, renderValue(v)));
          return;
        }
        const n = codePointLength(v);
        if (n > max) out.push(fieldError(path, 'length', expected, `${renderValue(v)} (${n} characters)`));
      };
    }
    case 'date':
      return (v, path, out) => {
        if (typeof v !== 'string') out.push(fieldError(path, 'type', expected, renderValue(v)));
        else if (!DATE_RE.test(v)) out.push(fieldError(path, 'date', expected, renderValue(v)));
      };
    case 'bool':
    case 'enum': {
      const keys = new Set(dt.type === 'bool' ? [0, 1] : enumKeys(dt.specs));
      return (v, path, out) => {
        if (typeof v !== 'number' || !Number.isInteger(v)) out.push(fieldError(path, 'type', expected, typeReceived(v)));
        else if (!keys.has(v)) out.push(fieldError(path, 'enum', expected, renderValue(v)));
      };
    }
    case 'struct': {
      const members = membersCheck(dt.specs, o, !o.partialStructs);
      return (v, path, out) => {
        if (!isPlainObject(v)) out.push(fieldError(path, 'notObject', expected, renderValue(v)));
        else members(v, path, out);
      };
    }
    case 'array': {
      const size = Number(dt.specs.size);
      const item = fieldCheck(dt.specs.item, o);
      return (v, path, out) => {
        if (!Array.isArray(v)) {
          out.push(fieldError(path, 'type', expected, renderValue(v)));
          return;
        }
        if (v.length > size) out.push(fieldError(path, 'size', `at most ${size} elements`, `${v.length} elements`));
        for (let i = 0; i < v.length; i++) item(v[i], indexPath(path, i), out);
      };
    }
  }
}

/** Walker of an object's members (struct values, service input/output, event output). `path` '' = top level. */
export function membersCheck(members: ParamDef[], o: SchemaOptions, allRequired: boolean): (v: Record<string, unknown>, path: string, out: FieldError[]) => void {
  const checks = new Map<string, { def: ParamDef; check: FieldCheck }>();
  for (const m of members) checks.set(m.identifier, { def: m, check: fieldCheck(m.dataType, o) });
  const known = listIds(members.map((m) => m.identifier));
  return (v, path, out) => {
    for (const k of Object.keys(v)) {
      const c = checks.get(k);
      const field = childPath(path, k);
      if (!c) out.push(fieldError(field, 'unknown', known === '' ? 'no members' : `one of ${known}`, renderValue(v[k]), 'unknown member, '));
      else c.check(v[k], field, out);
    }
    if (!allRequired) return;
    for (const [k, c] of checks) {
      if (!has(v, k)) out.push(fieldError(childPath(path, k), 'missing', describeType(c.def.dataType), 'nothing', 'missing member, '));
    }
  };
}

/** Identifiers for a message: up to 8, then a count. */
export function listIds(ids: string[]): string {
  return ids.length <= 8 ? ids.join(', ') : `${ids.slice(0, 8).join(', ')} and ${ids.length - 8} more`;
}

/** Length in code points (a surrogate pair counts once, as ajv's maxLength counts). */
function codePointLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}
