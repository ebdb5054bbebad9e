/** Rendering of received values and JSON paths inside error messages. */

const MAX_RENDERED = 80;

/**
 * A received value as it would read in JSON, cut to a readable length. Never throws: cyclic or exotic values
 * (which cannot come out of JSON.parse but can come from a handler) get a type description instead.
 */
export function renderValue(v: unknown): string {
  let s: string | undefined;
  if (v === undefined) return 'nothing';
  if (typeof v === 'number') s = String(v);
  else if (typeof v === 'bigint') s = `${v}n`;
  else if (typeof v === 'function' || typeof v === 'symbol') s = typeof v;
  else {
    try {
      s = JSON.stringify(v);
    } catch {
      s = Array.isArray(v) ? 'an array' : typeof v;
    }
  }
  if (s === undefined) s = typeof v;
  return s.length > MAX_RENDERED ? `${s.slice(0, MAX_RENDERED - 3)}...` : s;
}

/** Appends an object key to a dotted path: `AlarmThresholds` + `TempHigh` → `AlarmThresholds.TempHigh`. */
export function childPath(parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`;
}

/** Appends an array index: `UploadHours` + 6 → `UploadHours[6]`. */
export function indexPath(parent: string, i: number): string {
  return `${parent}[${i}]`;
}
