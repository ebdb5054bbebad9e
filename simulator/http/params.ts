/**
 * Decoding of the RPC-style request: query string and x-www-form-urlencoded body into ordered name/value pairs,
 * the RFC 3986 encoding both signature schemes use, and the gathering of `Name.N` / `Name.N.Field` lists.
 */
import { ApiErrors } from '../errors';

export type Pair = [string, string];

function decode(part: string, where: string): string {
  if (!part.includes('%') && !part.includes('+')) return part;
  try {
    return decodeURIComponent(part.replace(/\+/g, ' '));
  } catch {
    throw ApiErrors.invalidParameter(where, 'valid percent-encoding', part);
  }
}

/** Splits on '&', then on the first '='; '+' means space (docs/protocol/wire-capture.md, "Cloud OpenAPI SDK: server notes"). */
export function parsePairs(raw: string, where: string): Pair[] {
  if (!raw) return [];
  const out: Pair[] = [];
  for (const piece of raw.split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    if (eq < 0) out.push([decode(piece, where), '']);
    else out.push([decode(piece.slice(0, eq), where), decode(piece.slice(eq + 1), where)]);
  }
  return out;
}

const UNRESERVED = /^[A-Za-z0-9\-_.~]*$/;

/** RFC 3986: everything except A-Z a-z 0-9 - _ . ~ becomes %XX of its UTF-8 bytes, upper-case hex. */
export function percentEncode(s: string): string {
  // Most names and values need no escaping; skip the two passes for them.
  if (UNRESERVED.test(s)) return s;
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

export function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The pairs sorted by name then value (code units), percent-encoded and joined: the form both signatures sign. */
export function canonicalQuery(pairs: readonly Pair[]): string {
  return [...pairs]
    .sort((a, b) => byCodeUnit(a[0], b[0]) || byCodeUnit(a[1], b[1]))
    .map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`)
    .join('&');
}

/** Parameters that belong to the protocol, not to an API. */
export const COMMON_PARAMS = new Set([
  'Action',
  'Version',
  'Format',
  'Timestamp',
  'SignatureNonce',
  'SignatureMethod',
  'SignatureVersion',
  'SignatureType',
  'AccessKeyId',
  'Signature',
  'SecurityToken',
  'RegionId',
]);

/** First occurrence wins, so a repeated name cannot override what was read first. */
export function firstValues(pairs: Pair[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const [k, v] of pairs) if (!m.has(k)) m.set(k, v);
  return m;
}

const MAX_LIST_INDEX = 1000;

/**
 * Builds the API's parameter object. Names listed in `lists` are gathered from `Name.1`, `Name.2`, ... into
 * arrays (of strings, or of objects for `Name.N.Field`), ordered by index. Other dotted names are kept as they are.
 */
export function gatherParams(values: Map<string, string>, lists: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const collected = new Map<string, Map<number, string | Record<string, string>>>();
  for (const [name, value] of values) {
    if (COMMON_PARAMS.has(name)) continue;
    const m = /^([A-Za-z]+)\.([0-9]+)(?:\.([A-Za-z]+))?$/.exec(name);
    const base = m?.[1];
    if (!m || !base || !lists.includes(base)) {
      out[name] = value;
      continue;
    }
    const index = Number(m[2]);
    if (index < 1 || index > MAX_LIST_INDEX) throw ApiErrors.invalidParameter(name, `an index 1..${MAX_LIST_INDEX}`, m[2]);
    let items = collected.get(base);
    if (!items) collected.set(base, (items = new Map()));
    const field = m[3];
    if (field === undefined) {
      items.set(index, value);
    } else {
      const prev = items.get(index);
      const obj = typeof prev === 'object' ? prev : {};
      obj[field] = value;
      items.set(index, obj);
    }
  }
  for (const [base, items] of collected) {
    out[base] = [...items.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
  }
  return out;
}
