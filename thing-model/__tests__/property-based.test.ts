/**
 * Property-based tests: random data types with random specs; values drawn from the specs are accepted, and each
 * mutation (out of range, wrong type, extra field, missing member, too long, read-only write) is refused with
 * 460 naming the field. Also checks that the fast path and the precise walker agree on arbitrary JSON.
 */
import fc from 'fast-check';
import { compileThingModel, loadThingModel } from '..';
import { fieldCheck } from '../field-check';
import type { DataType, FieldError, FieldErrorReason } from '../types';
import { schemaOptions } from '../value-schema';
import { rw, tsl } from './helpers';

const RUNS = 200;

/** A generated data type: its raw TSL JSON, valid values, and mutants with the reason and path they must get. */
interface Gen {
  dataType: Record<string, unknown>;
  valid: fc.Arbitrary<unknown>;
  mutants: fc.Arbitrary<[unknown, FieldErrorReason, string]>[];
}

const fixed = (x: number, d: number) => x.toFixed(d);

function numeric(type: 'int' | 'float' | 'double'): fc.Arbitrary<Gen> {
  const decimals = type === 'int' ? fc.constant(0) : fc.integer({ min: 0, max: 3 });
  return fc
    .record({ d: decimals, m: fc.constantFrom(1, 2, 5), k0: fc.integer({ min: -500, max: 500 }), n: fc.integer({ min: 0, max: 400 }) })
    .map(({ d, m, k0, n }) => {
      const step = m / 10 ** d;
      const min = Number(fixed(k0 * step, d));
      const max = Number(fixed(min + n * step, d));
      const at = (k: number) => Number(fixed(min + k * step, d));
      const dataType = { type, specs: { min: fixed(min, d), max: fixed(max, d), step: fixed(step, d), unit: 'u', unitName: 'unit' } };
      const k = fc.integer({ min: 0, max: n });
      return {
        dataType,
        valid: k.map(at),
        mutants: [
          fc.integer({ min: 1, max: 50 }).map((j): [unknown, FieldErrorReason, string] => [at(n + j), 'range', '']),
          fc.integer({ min: 1, max: 50 }).map((j): [unknown, FieldErrorReason, string] => [at(-j), 'range', '']),
          k.map((i): [unknown, FieldErrorReason, string] => [String(at(i)), 'type', '']),
          fc.constantFrom(true, null, [], {}).map((v): [unknown, FieldErrorReason, string] => [v, 'type', '']),
          // Half a step off: an integer only when the step is even; otherwise an int property sees a type error.
          ...(n > 0
            ? [
                fc
                  .integer({ min: 0, max: n - 1 })
                  .map((i): [unknown, FieldErrorReason, string] => [at(i) + step / 2, type === 'int' && step % 2 !== 0 ? 'type' : 'step', '']),
              ]
            : []),
        ],
      };
    });
}

const text: fc.Arbitrary<Gen> = fc.integer({ min: 1, max: 24 }).map((length) => ({
  dataType: { type: 'text', specs: { length: String(length) } },
  valid: fc.string({ unit: 'binary', maxLength: length }),
  mutants: [
    fc.string({ unit: 'binary', minLength: length + 1, maxLength: length + 8 }).map((s): [unknown, FieldErrorReason, string] => [s, 'length', '']),
    fc.integer().map((i): [unknown, FieldErrorReason, string] => [i, 'type', '']),
  ],
}));

const date: fc.Arbitrary<Gen> = fc.constant({
  dataType: { type: 'date', specs: {} },
  valid: fc.integer({ min: 0, max: 2 ** 47 }).map(String),
  mutants: [
    fc.integer({ min: 0, max: 2 ** 47 }).map((i): [unknown, FieldErrorReason, string] => [i, 'type', '']),
    fc.date({ noInvalidDate: true }).map((d): [unknown, FieldErrorReason, string] => [d.toISOString(), 'date', '']),
  ],
});

const bool: fc.Arbitrary<Gen> = fc.constant({
  dataType: { type: 'bool', specs: { '0': 'off', '1': 'on' } },
  valid: fc.constantFrom(0, 1),
  mutants: [
    fc.integer({ min: 2, max: 1000 }).map((i): [unknown, FieldErrorReason, string] => [i, 'enum', '']),
    fc.boolean().map((b): [unknown, FieldErrorReason, string] => [b, 'type', '']),
  ],
});

const enumeration: fc.Arbitrary<Gen> = fc.uniqueArray(fc.integer({ min: -50, max: 50 }), { minLength: 1, maxLength: 8 }).map((keys) => ({
  dataType: { type: 'enum', specs: Object.fromEntries(keys.map((k) => [String(k), `label ${k}`])) },
  valid: fc.constantFrom(...keys),
  mutants: [
    fc
      .integer({ min: -100, max: 100 })
      .filter((i) => !keys.includes(i))
      .map((i): [unknown, FieldErrorReason, string] => [i, 'enum', '']),
    fc.constantFrom(...keys).map((k): [unknown, FieldErrorReason, string] => [String(k), 'type', '']),
  ],
}));

const scalar: fc.Arbitrary<Gen> = fc.oneof(numeric('int'), numeric('float'), numeric('double'), text, date, bool, enumeration);

const struct: fc.Arbitrary<Gen> = fc.array(scalar, { minLength: 0, maxLength: 4 }).chain((members) => {
  const ids = members.map((_, i) => `M${i}`);
  const specs = members.map((m, i) => ({ identifier: ids[i], name: `member ${i}`, dataType: m.dataType }));
  const valid = fc.tuple(...members.map((m) => m.valid)).map((vs) => Object.fromEntries(vs.map((v, i) => [ids[i], v])));
  const mutants: fc.Arbitrary<[unknown, FieldErrorReason, string]>[] = [
    valid.map((v): [unknown, FieldErrorReason, string] => [{ ...v, Extra: 1 }, 'unknown', '.Extra']),
    fc.constantFrom(5, 'x', [], null).map((v): [unknown, FieldErrorReason, string] => [v, 'notObject', '']),
  ];
  if (members.length > 0) {
    mutants.push(
      fc.tuple(valid, fc.integer({ min: 0, max: members.length - 1 })).map(([v, i]): [unknown, FieldErrorReason, string] => {
        const copy: Record<string, unknown> = { ...v };
        delete copy[`M${i}`];
        return [copy, 'missing', `.M${i}`];
      }),
    );
    // A member mutated by its own mutation, which must be reported under the member's path.
    members.forEach((m, i) => {
      for (const mm of m.mutants) {
        mutants.push(fc.tuple(valid, mm).map(([v, [bad, reason, sub]]): [unknown, FieldErrorReason, string] => [{ ...v, [`M${i}`]: bad }, reason, `.M${i}${sub}`]));
      }
    });
  }
  return fc.constant({ dataType: { type: 'struct', specs }, valid, mutants });
});

const array: fc.Arbitrary<Gen> = fc
  .tuple(fc.oneof(numeric('int'), numeric('float'), numeric('double'), text, struct), fc.integer({ min: 1, max: 6 }))
  .map(([item, size]) => {
    const valid = fc.array(item.valid, { maxLength: size });
    return {
      dataType: { type: 'array', specs: { size: String(size), item: item.dataType } },
      valid,
      mutants: [
        fc.array(item.valid, { minLength: size + 1, maxLength: size + 4 }).map((v): [unknown, FieldErrorReason, string] => [v, 'size', '']),
        ...item.mutants.map((mm) =>
          fc.tuple(fc.array(item.valid, { maxLength: size - 1 }), mm).map(([v, [bad, reason, sub]]): [unknown, FieldErrorReason, string] => [
            [...v, bad],
            reason,
            `[${v.length}]${sub}`,
          ]),
        ),
      ],
    };
  });

const anyType: fc.Arbitrary<Gen> = fc.oneof(scalar, struct, array);

const models = new Map<string, ReturnType<typeof compileThingModel>>();

/**
 * A model with the generated type as rw property X, and a read-only property R of the same type. Cached by type:
 * generators repeat types often (bool, date), and compiling is the slow part of each run.
 */
function modelOf(g: Gen) {
  const key = JSON.stringify(g.dataType);
  let c = models.get(key);
  if (!c) {
    c = compileThingModel(loadThingModel(tsl([rw('X', g.dataType), { identifier: 'R', name: 'r', accessMode: 'r', dataType: g.dataType }])));
    models.set(key, c);
  }
  return c;
}

function rejected(v: ReturnType<ReturnType<typeof modelOf>['validatePropertySet']>, field: string, reason: FieldErrorReason): boolean {
  if (v.ok || v.code !== 460) return false;
  return v.errors.some((e: FieldError) => e.field === field && e.reason === reason && e.message.startsWith(`${field}: `));
}

describe('property-based', () => {
  it('values generated from the specs are accepted, in set and post, bare and timed', () => {
    fc.assert(
      fc.property(anyType.chain((g) => fc.tuple(fc.constant(g), g.valid)), ([g, value]) => {
        const c = modelOf(g);
        expect(c.validatePropertySet({ X: value })).toEqual({ ok: true, value: { X: value } });
        expect(c.validatePropertyPost({ X: value, R: { value, time: 1700000000000 } }).ok).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('each mutation is refused with 460 naming the field', () => {
    const withMutant = anyType.chain((g) => fc.tuple(fc.constant(g), fc.oneof(...g.mutants)));
    fc.assert(
      fc.property(withMutant, ([g, [bad, reason, sub]]) => {
        const c = modelOf(g);
        const v = c.validatePropertySet({ X: bad });
        expect({ reason, field: `X${sub}`, v }).toEqual({ reason, field: `X${sub}`, v: expect.objectContaining({ ok: false, code: 460 }) });
        expect(rejected(v, `X${sub}`, reason)).toBe(true);
        expect(rejected(c.validatePropertyPost({ R: bad }), `R${sub}`, reason)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('read-only writes and unknown identifiers are refused, next to valid fields', () => {
    fc.assert(
      fc.property(anyType.chain((g) => fc.tuple(fc.constant(g), g.valid, fc.stringMatching(/^[A-Z][A-Za-z0-9_]{0,10}$/))), ([g, value, extra]) => {
        const c = modelOf(g);
        expect(rejected(c.validatePropertySet({ X: value, R: value }), 'R', 'readOnly')).toBe(true);
        if (extra !== 'X' && extra !== 'R') {
          const v = c.validatePropertySet({ X: value, [extra]: value });
          expect(rejected(v, extra, 'unknown')).toBe(true);
          expect(v.ok ? [] : v.errors).toHaveLength(1);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('the fast path and the precise walker agree on arbitrary JSON values', () => {
    const o = schemaOptions(undefined);
    fc.assert(
      fc.property(anyType.chain((g) => fc.tuple(fc.constant(g), fc.oneof(g.valid, fc.jsonValue({ maxDepth: 3 }), ...g.mutants.map((m) => m.map((x) => x[0]))))), ([g, value]) => {
        const c = modelOf(g);
        const walker: FieldError[] = [];
        fieldCheck(c.model.properties[0]?.dataType as DataType, o)(value, 'X', walker);
        const v = c.validatePropertySet({ X: value });
        expect({ fast: v.ok, walker: walker.map((e) => e.message) }).toEqual({ fast: walker.length === 0, walker: v.ok ? [] : v.errors.map((e) => e.message) });
      }),
      { numRuns: RUNS },
    );
  });
});
