/** The captured SDK requests (docs/protocol/wire-capture.md, "Cloud OpenAPI SDK: request signatures"), for signature tests. */
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

// The captured requests themselves, kept here so that the tests need nothing outside the repository.
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
