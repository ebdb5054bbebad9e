/**
 * Compiling a Thing Model into validators and serializers, once.
 *
 * Split of work: every value is checked by an ajv function compiled from its data type (`value-schema.ts`);
 * which keys an object may hold (unknown, read-only, missing) is a Map lookup over the payload's own keys, so a
 * 20-property set costs 20 lookups and 20 ajv calls whatever the model's size. When that fast path says no, a
 * precise walker (`field-check.ts`) collects one message per bad field; messages cost nothing on valid input.
 * Should the two ever disagree, the fast path's verdict stands (tests compare them on generated payloads).
 */
import Ajv, { type ValidateFunction } from 'ajv';
import type { DataValidationCxt } from 'ajv/dist/types';
import { AlinkCodes } from './codes';
import { fieldCheck, fieldError, isPlainObject, listIds, membersCheck, type FieldCheck } from './field-check';
import { renderValue } from './render';
import { ModelSerializer } from './serialize';
import type { CompileOptions, DataType, EventDef, FieldError, ParamDef, PropertyDef, ServiceDef, ThingModel, Validation } from './types';
import { schemaOptions, tslStepKeyword, valueSchema, type SchemaOptions } from './value-schema';

/** At most this many properties in one post (platform code 6106 beyond it). */
export const MAX_POST_PROPERTIES = 200;

/**
 * A Thing Model with its validators and serializers compiled. Every method is safe on any input: a bad payload is
 * a `{ ok: false, code: 460, errors, message }` value, never an exception.
 *
 * Numeric strings are refused [POLICY]: where the TSL asks for a number (int, float, double, bool, enum), `"30"`
 * is a type error, not 30. Alibaba's clients send JSON numbers; coercing strings would let malformed payloads
 * through and make the device disagree with the cloud about what was set. The message points it out:
 * `X: expected integer in [5, 3600], received "30" (a string; numbers must be JSON numbers)`.
 */
export interface CompiledThingModel {
  readonly model: ThingModel;
  property(id: string): PropertyDef | undefined;
  service(id: string): ServiceDef | undefined;
  event(id: string): EventDef | undefined;
  /** `params` of a property set: a non-empty partial object of read-write properties. */
  validatePropertySet(params: unknown): Validation<Record<string, unknown>>;
  /** `params` of a property post: a non-empty partial object of any properties, each bare or `{value, time}`. */
  validatePropertyPost(params: unknown): Validation<Record<string, unknown>>;
  /** `params` of a service call: every `inputData` member. An unknown service is a 460 naming it. */
  validateServiceInput(serviceId: string, params: unknown): Validation<Record<string, unknown>>;
  /** `data` of a service reply: every `outputData` member. */
  validateServiceOutput(serviceId: string, data: unknown): Validation<Record<string, unknown>>;
  /** `params.value` of an event post: every `outputData` member. */
  validateEventOutput(eventId: string, value: unknown): Validation<Record<string, unknown>>;
  /** JSON of a property post envelope; float/double values keep a decimal point (`10.0`). */
  stringifyPropertyPost(envelope: object): string;
  /** JSON of an event post envelope; `envelope.params.value` is the event output. */
  stringifyEventPost(eventId: string, envelope: object): string;
  /** JSON of a service reply envelope; `envelope.data` is the service output. */
  stringifyServiceReply(serviceId: string, envelope: object): string;
}

/** A value validator pair: ajv's compiled check (fast path) and the walker that names what is wrong. */
interface ValueRule {
  /** Call as `fast(v, cxt)`: with a context object given, ajv's functions skip allocating a default one. */
  fast: (v: unknown, cxt: DataValidationCxt) => boolean;
  precise: FieldCheck;
}

/**
 * Compiles one ajv function per distinct value schema. Properties, members and parameters with the same data
 * type share one function, so a model with 300 properties but 40 distinct types pays for 40 compiles.
 */
class ValueRules {
  private readonly ajv: Ajv;
  private readonly compiled = new Map<string, ValidateFunction>();
  /**
   * The context passed to every top-level call. ajv only reads it (our schemas use no $data or dynamic refs),
   * and passing one saves the allocation of its default parameter on every value, about a third of the cost.
   */
  readonly cxt: DataValidationCxt = { instancePath: '', parentData: {}, parentDataProperty: '', rootData: {}, dynamicAnchors: {} };

  constructor(private readonly o: SchemaOptions) {
    // One ajv per compiled model, no shared cache between models. Messages are off because the walker writes
    // them; optimize is off because it doubles the compile time for no measurable gain on schemas this small.
    // The schemas come from `valueSchema`, not from users, so the meta-schema (whose own compile costs more than
    // a whole model) is skipped; a test checks every generated schema against it instead.
    this.ajv = new Ajv({
      allErrors: false,
      messages: false,
      strict: true,
      coerceTypes: false,
      addUsedSchema: false,
      meta: false,
      validateSchema: false,
      code: { optimize: false },
    });
    this.ajv.addKeyword(tslStepKeyword);
  }

  /** The ajv check of one data type, compiled once per distinct schema. */
  fast(dt: DataType): ValueRule['fast'] {
    const schema = valueSchema(dt, this.o);
    const key = JSON.stringify(schema);
    let fast = this.compiled.get(key);
    if (!fast) {
      fast = this.ajv.compile(schema);
      this.compiled.set(key, fast);
    }
    return fast;
  }

  rule(dt: DataType): ValueRule {
    return { fast: this.fast(dt), precise: fieldCheck(dt, this.o) };
  }
}

/** A 460 rejection carrying every field error, `message` joining theirs. */
function failure(errors: FieldError[]): { ok: false; code: number; errors: FieldError[]; message: string } {
  let message = '';
  for (let i = 0; i < errors.length; i++) message += (i === 0 ? '' : '; ') + (errors[i] as FieldError).message;
  return { ok: false, code: AlinkCodes.PARAM_ERROR, errors, message };
}

/** When the walker finds nothing the fast check objected to (a disagreement tests look for), still say no. */
function refusal(errors: FieldError[], v: unknown, what: string): Validation<Record<string, unknown>> {
  return failure(errors.length > 0 ? errors : [fieldError(what, 'type', 'a payload valid for the Thing Model', renderValue(v))]);
}

/** `{value, time}`: a plain object with an own `value` and nothing but `value` and `time`. */
function isTimedShape(x: unknown): x is { value: unknown; time?: unknown } {
  if (!isPlainObject(x) || !Object.prototype.hasOwnProperty.call(x, 'value')) return false;
  for (const k in x) if (k !== 'value' && k !== 'time') return false;
  return true;
}

/** A sample time: epoch milliseconds as a JSON integer. */
const isTime = (t: unknown): boolean => typeof t === 'number' && Number.isSafeInteger(t) && t >= 0;

/**
 * Top-level object checks shared by the property validators: object, non-empty, size. Returns the payload's keys
 * for the walk, or undefined when it is not an object at all.
 */
function objectGate(out: FieldError[], v: unknown, max?: number): string[] | undefined {
  if (!isPlainObject(v)) {
    out.push(fieldError('params', 'notObject', 'an object of properties', renderValue(v)));
    return undefined;
  }
  const keys = Object.keys(v);
  if (keys.length === 0) out.push(fieldError('params', 'missing', 'at least one property', '{}'));
  if (max !== undefined && keys.length > max) out.push(fieldError('params', 'size', `at most ${max} properties`, `${keys.length} properties`));
  return keys;
}

/**
 * An object of named members, every one required (service input/output, event output). Membership is a Map
 * lookup per key of the payload; each value is checked by its ajv function.
 */
class MembersValidator {
  /** Only the fast checks: the messages come from `walk`, which has its own walker per member. */
  private readonly rules = new Map<string, ValueRule['fast']>();
  private readonly cxt: DataValidationCxt;
  private readonly walk: (v: Record<string, unknown>, path: string, out: FieldError[]) => void;

  constructor(
    members: ParamDef[],
    rules: ValueRules,
    o: SchemaOptions,
    private readonly what: string,
  ) {
    this.cxt = rules.cxt;
    for (const m of members) this.rules.set(m.identifier, rules.fast(m.dataType));
    this.walk = membersCheck(members, o, true);
  }

  run(v: unknown): Validation<Record<string, unknown>> {
    if (isPlainObject(v)) {
      let n = 0;
      let ok = true;
      for (const k in v) {
        const fast = this.rules.get(k);
        if (fast === undefined || !fast(v[k], this.cxt)) {
          ok = false;
          break;
        }
        n++;
      }
      // Every key is a distinct known member, so n equal to the member count means none is missing.
      if (ok && n === this.rules.size) return { ok: true, value: v };
    }
    const out: FieldError[] = [];
    if (!isPlainObject(v)) out.push(fieldError(this.what, 'notObject', 'an object', renderValue(v)));
    else this.walk(v, '', out);
    return refusal(out, v, this.what);
  }
}

interface PropertyRule extends ValueRule {
  def: PropertyDef;
}

class Compiled implements CompiledThingModel {
  private readonly props = new Map<string, PropertyRule>();
  private readonly writable = new Map<string, PropertyRule>();
  private readonly services = new Map<string, ServiceDef>();
  private readonly events = new Map<string, EventDef>();
  private readonly serviceIn = new Map<string, MembersValidator>();
  private readonly serviceOut = new Map<string, MembersValidator>();
  private readonly eventOut = new Map<string, MembersValidator>();
  private readonly serializer: ModelSerializer;
  private readonly rwList: string;
  private readonly allList: string;
  private readonly timeCheck: FieldCheck;
  private readonly cxt: DataValidationCxt;

  constructor(
    readonly model: ThingModel,
    opts: CompileOptions | undefined,
  ) {
    const o = schemaOptions(opts);
    const rules = new ValueRules(o);
    this.cxt = rules.cxt;
    for (const p of model.properties) {
      const r: PropertyRule = { def: p, ...rules.rule(p.dataType) };
      this.props.set(p.identifier, r);
      if (p.accessMode === 'rw') this.writable.set(p.identifier, r);
    }
    for (const s of model.services) {
      this.services.set(s.identifier, s);
      this.serviceIn.set(s.identifier, new MembersValidator(s.inputData, rules, o, 'params'));
      this.serviceOut.set(s.identifier, new MembersValidator(s.outputData, rules, o, 'data'));
    }
    for (const e of model.events) {
      this.events.set(e.identifier, e);
      this.eventOut.set(e.identifier, new MembersValidator(e.outputData, rules, o, 'value'));
    }
    this.serializer = new ModelSerializer(model);
    this.rwList = `a read-write property (${listIds([...this.writable.keys()])})`;
    this.allList = `a property (${listIds([...this.props.keys()])})`;
    // The same rule as isTime: a non-negative safe integer.
    this.timeCheck = fieldCheck({ type: 'int', specs: { min: '0', max: String(Number.MAX_SAFE_INTEGER) } }, o);
  }

  property(id: string): PropertyDef | undefined {
    return this.props.get(id)?.def;
  }
  service(id: string): ServiceDef | undefined {
    return this.services.get(id);
  }
  event(id: string): EventDef | undefined {
    return this.events.get(id);
  }

  validatePropertySet(params: unknown): Validation<Record<string, unknown>> {
    if (isPlainObject(params)) {
      let n = 0;
      let ok = true;
      for (const k in params) {
        const r = this.writable.get(k);
        if (r === undefined || !r.fast(params[k], this.cxt)) {
          ok = false;
          break;
        }
        n++;
      }
      if (ok && n > 0) return { ok: true, value: params };
    }
    const out: FieldError[] = [];
    const keys = objectGate(out, params);
    if (keys) {
      const p = params as Record<string, unknown>;
      for (const k of keys) {
        const r = this.writable.get(k);
        const x = p[k];
        // The fast check clears the valid fields cheaply; the walker only explains the others.
        if (r) {
          if (!r.fast(x, this.cxt)) r.precise(x, k, out);
        } else if (this.props.has(k)) {
          out.push(fieldError(k, 'readOnly', this.rwList, renderValue(x), 'read-only property, '));
        } else {
          out.push(fieldError(k, 'unknown', this.rwList, renderValue(x), 'unknown property, '));
        }
      }
    }
    return refusal(out, params, 'params');
  }

  validatePropertyPost(params: unknown): Validation<Record<string, unknown>> {
    if (isPlainObject(params)) {
      let n = 0;
      let ok = true;
      for (const k in params) {
        const r = this.props.get(k);
        const x = params[k];
        // Bare first, then {value, time}: a struct whose members are named value/time stays valid as itself.
        if (r === undefined || !(r.fast(x, this.cxt) || (isTimedShape(x) && r.fast(x.value, this.cxt) && (x.time === undefined || isTime(x.time))))) {
          ok = false;
          break;
        }
        n++;
      }
      if (ok && n > 0 && n <= MAX_POST_PROPERTIES) return { ok: true, value: params };
    }
    const out: FieldError[] = [];
    const keys = objectGate(out, params, MAX_POST_PROPERTIES);
    if (keys) {
      const p = params as Record<string, unknown>;
      for (const k of keys) {
        const r = this.props.get(k);
        const x = p[k];
        if (!r) out.push(fieldError(k, 'unknown', this.allList, renderValue(x), 'unknown property, '));
        else if (r.fast(x, this.cxt)) continue;
        else if (isTimedShape(x)) {
          r.precise(x.value, k, out);
          if (x.time !== undefined) this.timeCheck(x.time, `${k}.time`, out);
        } else r.precise(x, k, out);
      }
    }
    return refusal(out, params, 'params');
  }

  validateServiceInput(serviceId: string, params: unknown): Validation<Record<string, unknown>> {
    return this.serviceIn.get(serviceId)?.run(params) ?? this.unknown('service', serviceId, [...this.services.keys()]);
  }
  validateServiceOutput(serviceId: string, data: unknown): Validation<Record<string, unknown>> {
    return this.serviceOut.get(serviceId)?.run(data) ?? this.unknown('service', serviceId, [...this.services.keys()]);
  }
  validateEventOutput(eventId: string, value: unknown): Validation<Record<string, unknown>> {
    return this.eventOut.get(eventId)?.run(value) ?? this.unknown('event', eventId, [...this.events.keys()]);
  }

  private unknown(kind: 'service' | 'event', id: unknown, ids: string[]): Validation<Record<string, unknown>> {
    const expected = ids.length === 0 ? `no ${kind}s (the model has none)` : `a ${kind} (${listIds(ids)})`;
    return failure([fieldError(String(id), 'unknown', expected, renderValue(id), `unknown ${kind}, `)]);
  }

  stringifyPropertyPost(envelope: object): string {
    return this.serializer.propertyPost(envelope);
  }
  stringifyEventPost(eventId: string, envelope: object): string {
    return this.serializer.eventPost(eventId, envelope);
  }
  stringifyServiceReply(serviceId: string, envelope: object): string {
    return this.serializer.serviceReply(serviceId, envelope);
  }
}

/** Compiles every validator and serializer of a model, once. Options: step enforcement, partial structs. */
export function compileThingModel(model: ThingModel, opts?: CompileOptions): CompiledThingModel {
  return new Compiled(model, opts);
}
