/**
 * The semantic pass over a TSL document: rules JSON Schema cannot state (min ≤ max, step > 0, integral int
 * specs, numeric limits, duplicate identifiers, method names). It runs on the raw document after the structural
 * check and only looks at values of the right shape, so a value the schema already rejected is not reported twice.
 */
import { isPlainObject } from './field-check';
import type { TslProblem } from './types';
import { eventMethod, serviceMethod } from './wire/message';
import { DECIMAL_RE, IMPLICIT_EVENT_RE, IMPLICIT_SERVICE_RE, INTEGER_RE, TSL_LIMITS } from './tsl-schema';

type Obj = Record<string, unknown>;


/** The number a spec holds, or undefined when it is absent or malformed (the schema reports those). */
function specNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && DECIMAL_RE.test(v)) return Number(v);
  return undefined;
}

function isIntegralSpec(v: unknown): boolean {
  return typeof v === 'number' ? Number.isInteger(v) : typeof v === 'string' && INTEGER_RE.test(v);
}

/** Collects the semantic problems of a TSL document. */
export function checkTslRules(doc: unknown): TslProblem[] {
  const problems: TslProblem[] = [];
  const add = (path: string, message: string) => problems.push({ path, message });
  if (!isPlainObject(doc)) return problems;

  const checkDataType = (dt: unknown, path: string): void => {
    if (!isPlainObject(dt)) return;
    const specs = dt.specs;
    const sp = `${path}.specs`;
    switch (dt.type) {
      case 'int':
      case 'float':
      case 'double': {
        if (!isPlainObject(specs)) return;
        const min = specNumber(specs.min);
        const max = specNumber(specs.max);
        const step = specNumber(specs.step);
        if (dt.type === 'int') {
          for (const k of ['min', 'max', 'step'] as const) {
            if (specNumber(specs[k]) !== undefined && !isIntegralSpec(specs[k])) {
              add(`${sp}.${k}`, `expected an integer for an int property, received ${JSON.stringify(specs[k])}`);
            }
          }
        }
        if (min !== undefined && max !== undefined && min > max) {
          add(`${sp}.max`, `expected a number >= min (${String(specs.min)}), received ${JSON.stringify(specs.max)}`);
        }
        if (step !== undefined && step <= 0) add(`${sp}.step`, `expected a number > 0, received ${JSON.stringify(specs.step)}`);
        return;
      }
      case 'text': {
        if (!isPlainObject(specs)) return;
        const len = specNumber(specs.length);
        if (len !== undefined && isIntegralSpec(specs.length) && (len < 1 || len > TSL_LIMITS.textLength)) {
          add(`${sp}.length`, `expected an integer in [1, ${TSL_LIMITS.textLength}], received ${JSON.stringify(specs.length)}`);
        }
        return;
      }
      case 'struct':
        if (Array.isArray(specs)) checkParams(specs, sp);
        return;
      case 'array': {
        if (!isPlainObject(specs)) return;
        const size = specNumber(specs.size);
        if (size !== undefined && isIntegralSpec(specs.size) && (size < 1 || size > TSL_LIMITS.arraySize)) {
          add(`${sp}.size`, `expected an integer in [1, ${TSL_LIMITS.arraySize}], received ${JSON.stringify(specs.size)}`);
        }
        checkDataType(specs.item, `${sp}.item`);
        return;
      }
      default:
        return;
    }
  };

  /** Parameter lists and struct members: unique identifiers, then each type. */
  const checkParams = (list: unknown[], path: string): void => {
    checkDuplicates(list, path, add);
    list.forEach((p, i) => {
      if (isPlainObject(p)) checkDataType(p.dataType, `${path}[${i}].dataType`);
    });
  };

  let features = 0;
  const properties = Array.isArray(doc.properties) ? doc.properties : [];
  checkParams(properties, 'properties');
  features += properties.length;

  const services = Array.isArray(doc.services) ? doc.services : [];
  checkDuplicates(services, 'services', add);
  services.forEach((s, i) => {
    if (!isPlainObject(s) || isImplicit(s, IMPLICIT_SERVICE_RE)) return;
    const path = `services[${i}]`;
    checkMethod(s, path, serviceMethod, add);
    if (Array.isArray(s.inputData)) checkParams(s.inputData, `${path}.inputData`);
    if (Array.isArray(s.outputData)) checkParams(s.outputData, `${path}.outputData`);
  });
  features += services.filter((s) => !isImplicit(s, IMPLICIT_SERVICE_RE)).length;

  const events = Array.isArray(doc.events) ? doc.events : [];
  checkDuplicates(events, 'events', add);
  events.forEach((e, i) => {
    if (!isPlainObject(e) || isImplicit(e, IMPLICIT_EVENT_RE)) return;
    const path = `events[${i}]`;
    checkMethod(e, path, eventMethod, add);
    if (Array.isArray(e.outputData)) checkParams(e.outputData, `${path}.outputData`);
  });
  features += events.filter((e) => !isImplicit(e, IMPLICIT_EVENT_RE)).length;

  if (features > TSL_LIMITS.featuresPerModule) {
    add('properties', `expected at most ${TSL_LIMITS.featuresPerModule} features (properties, services and events) in one module, received ${features}`);
  }
  return problems;
}

/** The platform's own set/get/post and property post, which a TSL lists but the feature limit does not count. */
function isImplicit(entry: unknown, re: RegExp): boolean {
  return isPlainObject(entry) && typeof entry.identifier === 'string' && re.test(entry.identifier);
}

/** Reports every entry whose identifier repeats an earlier one in the same list. */
function checkDuplicates(list: unknown[], path: string, add: (path: string, message: string) => void): void {
  const seen = new Map<string, number>();
  list.forEach((entry, i) => {
    if (!isPlainObject(entry) || typeof entry.identifier !== 'string') return;
    const first = seen.get(entry.identifier);
    if (first === undefined) seen.set(entry.identifier, i);
    else add(`${path}[${i}].identifier`, `expected a unique identifier, received ${JSON.stringify(entry.identifier)} (also at ${path}[${first}])`);
  });
}

/** A present `method` must be the one the identifier implies, since the agent routes on the topic's identifier. */
function checkMethod(entry: Obj, path: string, expected: (id: string) => string, add: (path: string, message: string) => void): void {
  if (typeof entry.identifier !== 'string' || typeof entry.method !== 'string') return;
  const want = expected(entry.identifier);
  if (entry.method !== want) add(`${path}.method`, `expected ${JSON.stringify(want)}, received ${JSON.stringify(entry.method)}`);
}
