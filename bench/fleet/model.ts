/**
 * What the fleet needs from each sub-device Thing Model: a numeric property wide enough to carry a per-device
 * sequence number in every post (so the report can tell, post by post, what reached the platform), and a read-write
 * property with a few discrete values for the cloud's property sets.
 */
import { readFileSync } from 'node:fs';

interface TslProperty {
  identifier: string;
  accessMode?: string;
  dataType: { type: string; specs?: Record<string, unknown> };
}

/** How a fleet drives one sub-device product. */
export interface FleetProduct {
  productKey: string;
  tsl: string;
  /** The numeric property whose value is the post's sequence number. */
  seqProperty: string;
  /** The read-write property property sets write, and the values they cycle through. */
  setProperty: string;
  setValues: number[];
}

/** The largest sequence number a post may carry (posts per device per run). */
export const SEQ_MAX = 100_000;

function isSeq(p: TslProperty): boolean {
  if (!['int', 'float', 'double'].includes(p.dataType.type)) return false;
  const s = p.dataType.specs ?? {};
  const step = Number(s.step ?? 1);
  return Number(s.min) <= 0 && Number(s.max) >= SEQ_MAX && Number.isFinite(step) && step > 0 && Number.isInteger(1 / step);
}

/** Reads `tsl` and picks the two properties; throws naming the file when it has none that fits. */
export function fleetProduct(productKey: string, tsl: string): FleetProduct {
  const props = (JSON.parse(readFileSync(tsl, 'utf8')) as { properties?: TslProperty[] }).properties ?? [];
  const seq = props.find(isSeq);
  if (!seq) throw new Error(`${tsl}: no int/float/double property with min <= 0, max >= ${SEQ_MAX} and a step dividing 1 (the fleet's post sequence number)`);
  const set = props.find((p) => p.accessMode === 'rw' && (p.dataType.type === 'bool' || p.dataType.type === 'enum'));
  if (!set) throw new Error(`${tsl}: no read-write bool or enum property (what the fleet's property sets write)`);
  const setValues = Object.keys(set.dataType.specs ?? {}).map(Number).filter(Number.isInteger);
  return { productKey, tsl, seqProperty: seq.identifier, setProperty: set.identifier, setValues: setValues.length ? setValues : [0, 1] };
}
