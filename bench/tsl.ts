/**
 * Thing Model benchmark (not a test): compile times, validation throughput of a 20-property set payload (valid
 * and invalid), and the ratio of (JSON.parse + validate) to JSON.parse alone on the same payloads.
 * Goals: ratio >= 0.5, compile of 300 properties < 100 ms. Run: `npm run bench:tsl`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { compileThingModel, loadThingModel, loadThingModelFile, type CompiledThingModel } from '../thing-model';
import { median } from './stats';

// Compiled to dist/bench/tsl.js, or run from source: the fixture sits two or one levels up.
const EXAMPLE = [join(__dirname, '..', '..', 'thing-model', 'fixtures', 'example-gateway.json'), join(__dirname, '..', 'thing-model', 'fixtures', 'example-gateway.json')].find(
  (p) => existsSync(p),
) as string;

/**
 * A TSL with `n` properties cycling through every data type, half of them read-write. `distinct` gives each
 * property its own numeric range and text length (the worst case: no two types alike, one ajv compile each);
 * otherwise ranges repeat every 8 properties of a kind, as in real products where many properties share a type.
 */
export function syntheticTsl(n: number, distinct: boolean): object {
  const num = (type: string, min: string, max: string, step: string) => ({ type, specs: { min, max, step, unit: 'u', unitName: 'unit' } });
  const v = (i: number) => (distinct ? i : i % 80);
  const kinds: ((i: number) => object)[] = [
    (i) => num('int', '0', String(1000 + v(i)), '1'),
    (i) => num('float', '-40', String(85 + v(i)), '0.1'),
    (i) => num('double', '0', String(100 + v(i)), '0.01'),
    (i) => ({ type: 'text', specs: { length: String(16 + v(i)) } }),
    () => ({ type: 'enum', specs: { '0': 'a', '1': 'b', '2': 'c' } }),
    () => ({ type: 'bool', specs: { '0': 'off', '1': 'on' } }),
    () => ({ type: 'date', specs: {} }),
    () => ({
      type: 'struct',
      specs: [
        { identifier: 'A', name: 'a', dataType: num('int', '0', '10', '1') },
        { identifier: 'B', name: 'b', dataType: num('float', '0', '10', '0.5') },
        { identifier: 'C', name: 'c', dataType: { type: 'text', specs: { length: '16' } } },
      ],
    }),
    () => ({ type: 'array', specs: { size: '8', item: num('int', '0', '23', '1') } }),
    () => ({ type: 'array', specs: { size: '4', item: num('double', '-1', '1', '0.001') } }),
  ];
  const properties = [];
  for (let i = 0; i < n; i++) {
    properties.push({
      identifier: `P${i}`,
      name: `Property ${i}`,
      // Blocks of ten: P0..P9 rw, P10..P19 r, ... so that rw properties cover every kind.
      accessMode: Math.floor(i / 10) % 2 === 0 ? 'rw' : 'r',
      required: false,
      dataType: (kinds[i % kinds.length] as (i: number) => object)(i),
    });
  }
  return { schema: 'https://iotx-tsl.oss-ap-southeast-1.aliyuncs.com/schema.json', profile: { productKey: 'a1Bench0001' }, properties, events: [], services: [] };
}

/** A valid value for synthetic property `i` (by its kind). */
function validValue(i: number): unknown {
  switch (i % 10) {
    case 0:
      return 500 + i;
    case 1:
      return 21.3;
    case 2:
      return 55.55;
    case 3:
      return `host-${i}`;
    case 4:
      return 2;
    case 5:
      return 1;
    case 6:
      return '1767225600000';
    case 7:
      return { A: 3, B: 2.5, C: 'x' };
    case 8:
      return [1, 2, 3, 23];
    default:
      return [0.125, -0.5];
  }
}

/** Rounds every non-integer number inside a value, so float properties carry integral values. */
function integralFloats(v: unknown): unknown {
  if (typeof v === 'number') return Math.round(v);
  if (Array.isArray(v)) return v.map(integralFloats);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, integralFloats(x)]));
  return v;
}

function setEnvelope(params: Record<string, unknown>): string {
  return JSON.stringify({ id: '4000001', version: '1.0', params, method: 'thing.service.property.set' });
}

/** Operations per second of `fn`, measured over about `ms` milliseconds after a warm-up. */
function opsPerSecond(fn: () => unknown, ms = 300): number {
  for (let i = 0; i < 2000; i++) fn();
  let n = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(ms) * 1_000_000n;
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let i = 0; i < 500; i++) fn();
    n += 500;
    elapsed = process.hrtime.bigint() - start;
  }
  return n / (Number(elapsed) / 1e9);
}

/**
 * Throughput of `a` and `b` and the ratio b/a, as medians of short alternating rounds: the machine is shared,
 * and measuring the two back to back in each round keeps a load spike from landing on one side only.
 */
function compare(a: () => unknown, b: () => unknown, rounds = 7): { a: number; b: number; ratio: number } {
  const as: number[] = [];
  const bs: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const x = opsPerSecond(a, 100);
    const y = opsPerSecond(b, 100);
    as.push(x);
    bs.push(y);
    ratios.push(y / x);
  }
  return { a: median(as), b: median(bs), ratio: median(ratios) };
}

function timeMs(fn: () => unknown): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

function main(): void {
  // First compile pays for loading ajv's code paths; report it apart from the steady-state figure.
  const exampleModel = loadThingModelFile(EXAMPLE);
  const firstExample = timeMs(() => compileThingModel(exampleModel));
  const exampleCompile = median([0, 1, 2, 3, 4].map(() => timeMs(() => compileThingModel(exampleModel))));

  const tsl300 = syntheticTsl(300, false);
  const load300 = median([0, 1, 2].map(() => timeMs(() => loadThingModel(tsl300))));
  const model300 = loadThingModel(tsl300);
  const compile300 = median([0, 1, 2, 3, 4].map(() => timeMs(() => compileThingModel(model300))));
  const distinct300 = loadThingModel(syntheticTsl(300, true));
  const compileDistinct = median([0, 1, 2].map(() => timeMs(() => compileThingModel(distinct300))));
  const compiled: CompiledThingModel = compileThingModel(model300);

  const valid: Record<string, unknown> = {};
  for (const p of model300.properties.filter((q) => q.accessMode === 'rw').slice(0, 20)) valid[p.identifier] = validValue(Number(p.identifier.slice(1)));
  // Four bad fields: out of range, bad enum, struct member off step, and a read-only write.
  const invalid: Record<string, unknown> = { ...valid, P0: 5000, P4: 7, P7: { A: 3, B: 2.2, C: 'x' }, P11: 1.0 };
  const validJson = setEnvelope(valid);
  const invalidJson = setEnvelope(invalid);
  const check = compiled.validatePropertySet(valid);
  if (!check.ok) throw new Error(`bench payload should be valid: ${check.message}`);
  if (compiled.validatePropertySet(invalid).ok) throw new Error('bench invalid payload was accepted');

  const validateValid = opsPerSecond(() => compiled.validatePropertySet(valid));
  const validateInvalid = opsPerSecond(() => compiled.validatePropertySet(invalid));
  const good = compare(
    () => JSON.parse(validJson),
    () => compiled.validatePropertySet((JSON.parse(validJson) as { params: unknown }).params),
  );
  const bad = compare(
    () => JSON.parse(invalidJson),
    () => compiled.validatePropertySet((JSON.parse(invalidJson) as { params: unknown }).params),
  );

  const post = { id: '51', version: '1.0', sys: { ack: 1 }, params: valid, method: 'thing.event.property.post' };
  // The same post with integral floats (21.0, 55.0, 2.0 ...), which need the writer rather than JSON.stringify.
  const integral = Object.fromEntries(Object.entries(valid).map(([k, v]) => [k, integralFloats(v)]));
  const postIntegral = { ...post, params: integral };
  const plainVsTsl = compare(
    () => JSON.stringify(post),
    () => compiled.stringifyPropertyPost(post),
  );
  const plainVsIntegral = compare(
    () => JSON.stringify(postIntegral),
    () => compiled.stringifyPropertyPost(postIntegral),
  );

  const f = (n: number) => Math.round(n).toLocaleString('en-US');
  const lines = [
    `compile example TSL (${exampleModel.properties.length} properties): first ${firstExample.toFixed(1)} ms, then ${exampleCompile.toFixed(1)} ms`,
    `load 300-property TSL: ${load300.toFixed(1)} ms; compile: ${compile300.toFixed(1)} ms (goal < 100 ms)`,
    `compile 300-property TSL, every type distinct (worst case): ${compileDistinct.toFixed(1)} ms`,
    `validate 20-property set, valid:   ${f(validateValid)} /s`,
    `validate 20-property set, invalid: ${f(validateInvalid)} /s (4 bad fields, messages built)`,
    `JSON.parse alone (valid, ${validJson.length} B): ${f(good.a)} /s; parse + validate: ${f(good.b)} /s; ratio ${good.ratio.toFixed(2)} (goal >= 0.5)`,
    `JSON.parse alone (invalid, ${invalidJson.length} B): ${f(bad.a)} /s; parse + validate: ${f(bad.b)} /s; ratio ${bad.ratio.toFixed(2)}`,
    `stringify 20-property post, no integral float: JSON.stringify ${f(plainVsTsl.a)} /s; TSL-aware ${f(plainVsTsl.b)} /s (ratio ${plainVsTsl.ratio.toFixed(2)})`,
    `stringify 20-property post, integral floats (written 21.0): JSON.stringify ${f(plainVsIntegral.a)} /s; TSL-aware ${f(plainVsIntegral.b)} /s (ratio ${plainVsIntegral.ratio.toFixed(2)})`,
  ];
  console.log(lines.join('\n'));
}

if (require.main === module) main();
