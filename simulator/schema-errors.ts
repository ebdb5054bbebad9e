/**
 * One ajv instance setup and one way of reading its errors, shared by the config file and the API parameters,
 * so both name the offending key with what was expected and what was received.
 */
import Ajv, { ErrorObject, ValidateFunction } from 'ajv';

/** Ajv with the `expected` annotation keyword: the human text an error shows for that schema node. */
export function createAjv(opts: { coerceTypes?: boolean } = {}): Ajv {
  const ajv = new Ajv({
    allErrors: false,
    useDefaults: true,
    verbose: true,
    strict: true,
    coerceTypes: opts.coerceTypes ?? false,
  });
  ajv.addKeyword({ keyword: 'expected', schemaType: 'string' });
  return ajv;
}

export interface SchemaProblem {
  /** Key path, e.g. ['http', 'port'] or ['devices', '0', 'deviceName']. */
  path: string[];
  /** missing: a required key is absent; unknown: a key the schema does not know; invalid: anything else. */
  kind: 'missing' | 'unknown' | 'invalid';
  expected: string;
  received: unknown;
}

type Schemaish = { expected?: string; properties?: Record<string, Schemaish>; type?: unknown; enum?: unknown[] };

function fallbackExpected(err: ErrorObject): string {
  const p = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'type':
      return String(p.type);
    case 'enum':
      return `one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'pattern':
      return `a string matching ${String(p.pattern)}`;
    case 'maxItems':
      return `at most ${String(p.limit)} items`;
    case 'minItems':
      return `at least ${String(p.limit)} items`;
    case 'maxLength':
      return `at most ${String(p.limit)} characters`;
    case 'minLength':
      return `at least ${String(p.limit)} characters`;
    default:
      return err.message ?? 'a valid value';
  }
}

/** Turns the first ajv error into a problem naming the key. */
export function firstProblem(validate: ValidateFunction): SchemaProblem {
  const err = validate.errors?.[0];
  if (!err) return { path: [], kind: 'invalid', expected: 'a valid value', received: undefined };
  const path = err.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const parent = (err.parentSchema ?? {}) as Schemaish;
  if (err.keyword === 'required') {
    const key = String((err.params as { missingProperty: string }).missingProperty);
    const child = parent.properties?.[key];
    return { path: [...path, key], kind: 'missing', expected: child?.expected ?? 'a value', received: undefined };
  }
  if (err.keyword === 'additionalProperties') {
    const key = String((err.params as { additionalProperty: string }).additionalProperty);
    const known = Object.keys(parent.properties ?? {}).join(', ');
    const data = err.data as Record<string, unknown> | undefined;
    return { path: [...path, key], kind: 'unknown', expected: `no such key (known keys: ${known})`, received: data?.[key] };
  }
  return { path, kind: 'invalid', expected: parent.expected ?? fallbackExpected(err), received: err.data };
}
