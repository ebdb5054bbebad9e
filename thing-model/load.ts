/**
 * Loading a TSL export: structural check (ajv, all errors), semantic check (`tsl-rules.ts`), then normalisation
 * of the export's quirks into a {@link ThingModel}. A malformed TSL throws one {@link TslError} listing every
 * problem with its JSON path.
 */
import { readFileSync } from 'node:fs';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { TslError } from './codes';
import { childPath, renderValue } from './render';
import { checkTslRules } from './tsl-rules';
import { eventMethod, serviceMethod } from './wire/message';
import { IMPLICIT_EVENT_RE, IMPLICIT_SERVICE_RE, TSL_SCHEMA } from './tsl-schema';
import type { ArrayItemType, DataType, EventDef, ParamDef, PropertyDef, ServiceDef, ThingModel, TslProblem } from './types';

/**
 * The structural checker, compiled on first use and shared while anyone holds it. Weakly: a running agent checks
 * its TSL once at start (and at a reload), and the compiled meta-schema (ajv with allErrors and verbose) would
 * otherwise stay in its heap for good.
 */
let tslValidator: WeakRef<ValidateFunction> | undefined;

function structuralValidator(): ValidateFunction {
  let v = tslValidator?.deref();
  if (!v) {
    // verbose: the error objects then carry the offending data and schema node, which the messages quote.
    const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, strictTypes: false, allowUnionTypes: true });
    v = ajv.compile(TSL_SCHEMA);
    tslValidator = new WeakRef(v);
  }
  return v;
}

/**
 * `/properties/3/dataType/specs/max` → `properties[3].dataType.specs.max`. The document is walked alongside so
 * that a numeric key of an object (enum key "1") reads `.1`, and only array positions read `[3]`.
 */
export function jsonPointerToPath(pointer: string, doc: unknown): string {
  let out = '';
  let node: unknown = doc;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
    node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[seg] : undefined;
  }
  return out;
}

/** What a missing member should have been, when its schema sits in a branch the error does not point at. */
const MISSING_HINTS: Record<string, string> = {
  specs: 'the specs of the data type',
  dataType: 'a dataType object {type, specs}',
  type: 'a data type name',
};

function describe(schema: unknown, fallback: string): string {
  const d = (schema as { description?: unknown } | undefined)?.description;
  return typeof d === 'string' ? d : fallback;
}

/**
 * One ajv error as a problem. Undefined for bookkeeping errors that only repeat a precise one: `if` (a `then`
 * branch failed) and `propertyNames` (the bad key itself comes as its own error, with `propertyName` set).
 */
function toProblem(e: ErrorObject, doc: unknown): TslProblem | undefined {
  const path = jsonPointerToPath(e.instancePath, doc);
  const where = path === '' ? '(root)' : path;
  const expected = describe(e.parentSchema, '');
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'if':
    case 'propertyNames':
      return undefined;
    case 'required': {
      const key = String(params.missingProperty);
      const sub = (e.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties?.[key];
      return { path: childPath(path, key), message: `missing; expected ${describe(sub, MISSING_HINTS[key] ?? 'a value')}` };
    }
    case 'type':
    case 'pattern':
    case 'enum':
    case 'const':
    case 'minLength':
      return { path: where, message: `expected ${expected || String(params.type ?? params.allowedValues)}, received ${renderValue(e.data)}` };
    case 'maxItems':
      if (params.limit === 0) return { path: where, message: `expected ${expected || '{}'}, received ${renderValue(e.data)}` };
      return { path: where, message: `expected at most ${String(params.limit)} entries, received ${(e.data as unknown[]).length}` };
    case 'maxProperties':
      return { path: where, message: `expected at most ${String(params.limit)} entries, received ${Object.keys(e.data as object).length}` };
    case 'minProperties':
      return { path: where, message: `expected at least ${String(params.limit)} entry, received none` };
    default:
      return { path: where, message: `expected ${expected || 'a valid value'} (${e.keyword}), received ${renderValue(e.data)}` };
  }
}

/** Every problem of a TSL document; empty when it is well formed. */
export function checkTsl(json: unknown): TslProblem[] {
  const validate = structuralValidator();
  const problems: TslProblem[] = [];
  if (!validate(json)) {
    const seen = new Set<string>();
    for (const e of validate.errors ?? []) {
      const p = e.propertyName !== undefined ? nameProblem(e, json) : toProblem(e, json);
      if (!p) continue;
      const key = `${p.path}\u0000${p.message}`;
      if (!seen.has(key)) {
        seen.add(key);
        problems.push(p);
      }
    }
  }
  problems.push(...checkTslRules(json));
  return problems.sort((a, b) => pathOrder(a.path).localeCompare(pathOrder(b.path)));
}

/** Sort key reading a path in document order: array positions compare as numbers. */
function pathOrder(path: string): string {
  return path.replace(/\[([0-9]+)\]/g, (_m, n: string) => `[${n.padStart(6, '0')}]`);
}

/** An error on an object key itself (propertyNames): the path names the bad key. */
function nameProblem(e: ErrorObject, doc: unknown): TslProblem {
  const path = jsonPointerToPath(e.instancePath, doc);
  return { path: childPath(path, String(e.propertyName)), message: `expected ${describe(e.parentSchema, 'a valid key')}, received the key ${JSON.stringify(e.propertyName)}` };
}

type Raw = Record<string, unknown>;

const str = (v: unknown): string => (typeof v === 'number' ? String(v) : (v as string));

function optionalDesc(raw: Raw): { desc?: string } {
  return typeof raw.desc === 'string' ? { desc: raw.desc } : {};
}

/** Numbers stay strings, as in the export; JSON numbers some tools write are turned into strings. */
function normaliseNumericSpecs(specs: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof specs !== 'object' || specs === null) return out;
  for (const [k, v] of Object.entries(specs as Raw)) if (v !== undefined) out[k] = str(v);
  return out;
}

function normaliseType(raw: Raw): DataType {
  const type = raw.type as DataType['type'];
  const specs = raw.specs;
  switch (type) {
    case 'int':
    case 'float':
    case 'double':
      return { type, specs: normaliseNumericSpecs(specs) } as DataType;
    case 'text': {
      const length = (specs as Raw | undefined)?.length;
      // An array item exported without specs gets the platform's own ceiling.
      return { type, specs: { length: length === undefined ? '10240' : str(length) } };
    }
    case 'date':
      return { type, specs: {} };
    case 'bool':
    case 'enum':
      return { type, specs: { ...(specs as Record<string, string>) } };
    case 'struct':
      return { type, specs: (specs as Raw[]).map(normaliseParam) };
    case 'array': {
      const s = specs as Raw;
      return { type, specs: { size: str(s.size), item: normaliseType(s.item as Raw) as ArrayItemType } };
    }
  }
}

function normaliseParam(raw: Raw): ParamDef {
  return { identifier: raw.identifier as string, name: raw.name as string, ...optionalDesc(raw), dataType: normaliseType(raw.dataType as Raw) };
}

/**
 * Checks and normalises a TSL export (already parsed JSON). Throws {@link TslError} with every problem when it
 * is malformed. The implicit service `set`/`get` and event `post` are dropped.
 */
export function loadThingModel(json: unknown): ThingModel {
  const problems = checkTsl(json);
  if (problems.length > 0) throw new TslError(problems);
  const doc = json as Raw;
  const profile = doc.profile as Raw;
  const properties: PropertyDef[] = ((doc.properties as Raw[] | undefined) ?? []).map((p) => ({
    identifier: p.identifier as string,
    name: p.name as string,
    accessMode: p.accessMode as 'r' | 'rw',
    required: p.required === true,
    ...optionalDesc(p),
    dataType: normaliseType(p.dataType as Raw),
  }));
  const services: ServiceDef[] = ((doc.services as Raw[] | undefined) ?? [])
    .filter((s) => !IMPLICIT_SERVICE_RE.test(s.identifier as string))
    .map((s) => ({
      identifier: s.identifier as string,
      name: s.name as string,
      callType: s.callType as 'sync' | 'async',
      method: serviceMethod(s.identifier as string),
      required: s.required === true,
      ...optionalDesc(s),
      inputData: (s.inputData as Raw[]).map(normaliseParam),
      outputData: (s.outputData as Raw[]).map(normaliseParam),
    }));
  const events: EventDef[] = ((doc.events as Raw[] | undefined) ?? [])
    .filter((e) => !IMPLICIT_EVENT_RE.test(e.identifier as string))
    .map((e) => ({
      identifier: e.identifier as string,
      name: e.name as string,
      type: e.type as 'info' | 'alert' | 'error',
      method: eventMethod(e.identifier as string),
      required: e.required === true,
      ...optionalDesc(e),
      outputData: (e.outputData as Raw[]).map(normaliseParam),
    }));
  return {
    productKey: profile.productKey as string,
    ...(typeof profile.version === 'string' ? { version: profile.version } : {}),
    properties,
    services,
    events,
  };
}

/** Reads, parses and loads a TSL file. A file that cannot be read or parsed is a {@link TslError} too. */
export function loadThingModelFile(path: string): ThingModel {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TslError([{ path: '(file)', message: `expected a readable file at ${path}, received ${(err as NodeJS.ErrnoException).code ?? String(err)}` }]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new TslError([{ path: '(file)', message: `expected JSON in ${path}, received a parse error: ${(err as Error).message}` }]);
  }
  return loadThingModel(json);
}
