/** The error table in errors.ts and the one in simulator/README.md say the same thing. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { API_ERROR_CODES, ApiError, ApiErrors } from '../errors';

const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
const documented = new Map(
  [...readme.matchAll(/^\| ((?:[A-Z][A-Za-z]+(?:\.[A-Za-z]+)*)|(?:iot\.[a-z]+\.[A-Za-z]+)) \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])]),
);

/** One instance of every constructor, with placeholder arguments. */
const samples: ApiError[] = Object.values(ApiErrors).map((make) => (make as (...a: unknown[]) => ApiError)('X', 1, 429));

describe('error table', () => {
  it('every constructor makes a listed code', () => {
    expect(new Set(samples.map((e) => e.code))).toEqual(new Set(API_ERROR_CODES));
  });

  it('README documents every code with its HTTP status', () => {
    for (const e of samples) {
      expect([e.code, documented.get(e.code)]).toEqual([e.code, e.httpStatus]);
    }
    expect([...documented.keys()].sort()).toEqual([...API_ERROR_CODES].sort());
  });

  it('business errors travel with HTTP 200, the others with 4xx/5xx', () => {
    for (const e of samples) expect(e.kind === 'business' ? e.httpStatus === 200 : e.httpStatus >= 400).toBe(true);
  });
});
