/**
 * Numeric rules shared by the ajv schemas, the precise walker and the type generator: parsed bounds and the
 * step test.
 */
import type { FloatType, IntType } from './types';

/** Parsed numeric specs. Bounds absent on array items exported without specs. */
export interface NumericRule {
  type: 'int' | 'float' | 'double';
  min?: number;
  max?: number;
  step?: number;
  /** The spec strings as written, for messages ("0.5", not 0.5 re-printed). */
  minText?: string;
  maxText?: string;
  stepText?: string;
}

/** Parses the (already checked) spec strings of a numeric type. */
export function numericRule(dt: IntType | FloatType): NumericRule {
  const { min, max, step } = dt.specs;
  const r: NumericRule = { type: dt.type };
  if (min !== undefined) {
    r.min = Number(min);
    r.minText = min;
  }
  if (max !== undefined) {
    r.max = Number(max);
    r.maxText = max;
  }
  if (step !== undefined) {
    r.step = Number(step);
    r.stepText = step;
  }
  return r;
}

// Machine epsilon of the value's precision: float values that went through single precision on the device
// (21.4 → 21.399999618530273) must still count as on-step.
const EPS_FLOAT = 2 ** -23;
const EPS_DOUBLE = 2 ** -52;

/**
 * True when `v` is `base + k·step` for an integer k. Integers compare exactly; floating values with a
 * tolerance of `1e-9 + 4·ε·(|v| + |base|) / step` in units of step (ε = 2^-23 for float, 2^-52 for double), so
 * decimal rounding (0.3 on step 0.1 gives k = 2.9999999999999996) is accepted while a real off-step value at
 * the top of a wide range (99999.9999 on step 0.001) is still refused. `base` is min, or 0 without one.
 */
export function isOnStep(v: number, base: number, step: number, type: 'int' | 'float' | 'double'): boolean {
  if (exactIntegerStep(base, step, type)) return (v - base) % step === 0;
  const k = (v - base) / step;
  const { floor, perUnit } = stepTolerance(type);
  return !(Math.abs(k - Math.round(k)) > floor + (perUnit * (Math.abs(v) + Math.abs(base))) / step);
}

/** int with an integral step from a safe-integer base: the test is an exact remainder. */
export function exactIntegerStep(base: number, step: number, type: 'int' | 'float' | 'double'): boolean {
  return type === 'int' && Number.isInteger(step) && Number.isSafeInteger(base);
}

/** The tolerance terms of {@link isOnStep}: `floor + perUnit · (|v| + |base|) / step`. */
export function stepTolerance(type: 'int' | 'float' | 'double'): { floor: number; perUnit: number } {
  return { floor: 1e-9, perUnit: 4 * (type === 'float' ? EPS_FLOAT : EPS_DOUBLE) };
}

/**
 * The two on-step neighbours of an off-step value, for the rejection message, rounded to `decimals` places
 * (those of the spec strings, see {@link specDecimals}) so that 0.1 steps print as 0.3, not 0.30000000000000004.
 */
export function stepNeighbours(v: number, base: number, step: number, decimals: number): [number, number] {
  const k = Math.floor((v - base) / step);
  const f = 10 ** decimals;
  return [Math.round((base + k * step) * f) / f, Math.round((base + (k + 1) * step) * f) / f];
}

/** Decimal places written in spec strings ("0.05" → 2), capped at 15 (beyond that doubles hold no more). */
export function specDecimals(...specs: (string | undefined)[]): number {
  let d = 0;
  for (const s of specs) {
    const dot = s === undefined ? -1 : s.indexOf('.');
    if (s !== undefined && dot >= 0) d = Math.max(d, s.length - dot - 1);
  }
  return Math.min(d, 15);
}
