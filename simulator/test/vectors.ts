/** The captured SDK requests in shared/wire/cloud-requests.json, for signature tests. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CapturedRequest {
  api: string;
  scheme: string;
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: string;
  rawQuery: string;
}

// A copy of shared/wire/cloud-requests.json, so the tests run in a clean clone.
const FIXTURES = join(__dirname, 'fixtures');

export function loadVectors(): CapturedRequest[] {
  return JSON.parse(readFileSync(join(FIXTURES, 'cloud-requests.json'), 'utf8')) as CapturedRequest[];
}

/** The moment the vectors were captured (their x-acs-date / Timestamp). */
export function captureTime(v: CapturedRequest): number {
  const h = Object.fromEntries(Object.entries(v.headers).map(([k, x]) => [k.toLowerCase(), x]));
  const ts = h['x-acs-date'] ?? v.query.Timestamp ?? new URLSearchParams(v.rawQuery).get('Timestamp');
  if (!ts) throw new Error(`vector ${v.api} has no timestamp`);
  return Date.parse(ts);
}
