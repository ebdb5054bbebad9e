/** The code table, its error classes, and CODES.md staying in sync with it. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AlinkCodes,
  AlinkError,
  CloudReplyError,
  CODE_TABLE,
  codeInfo,
  HandlerError,
  isDeviceDefinedCode,
  isDeviceReplyCode,
  ThrottleError,
  TslError,
  ValidationError,
  type FieldError,
} from '..';

describe('code table', () => {
  it('has one row per named code, unique and in code order', () => {
    const names = Object.keys(AlinkCodes).sort();
    expect(CODE_TABLE.map((c) => c.name).sort()).toEqual(names);
    const codes = CODE_TABLE.map((c) => c.code);
    expect(new Set(codes).size).toBe(codes.length);
    expect([...codes].sort((a, b) => a - b)).toEqual(codes);
    for (const c of CODE_TABLE) {
      expect(AlinkCodes[c.name]).toBe(c.code);
      expect(c.meaning.length).toBeGreaterThan(5);
      expect(c.source).toMatch(/^\[[A-Za-z0-9-]+\]/);
      expect(c.source).toMatch(/ [a-z0-9-]+\.md#[a-z0-9-]+$/);
    }
  });

  it('holds the codes the brief names', () => {
    expect(AlinkCodes.SUCCESS).toBe(200);
    expect(AlinkCodes.REQUEST_ERROR).toBe(400);
    expect(AlinkCodes.TOO_MANY_REQUESTS).toBe(429);
    expect(AlinkCodes.PARAM_ERROR).toBe(460);
    for (const c of [500, 6100, 6203, 6204, 6250, 6300, 6306, 6307, 6322, 6313, 6317, 6450, 6760]) expect(codeInfo(c)).toBeDefined();
    expect(CODE_TABLE.filter((c) => c.sender !== 'cloud').map((c) => c.code)).toEqual([200, 400, 429, 460, 100000, 110000]);
  });

  it('knows which codes a device may send', () => {
    for (const c of [200, 400, 429, 460, 100000, 105555, 110000]) expect(isDeviceReplyCode(c)).toBe(true);
    for (const c of [401, 500, 6300, 99999, 110001, 100000.5]) expect(isDeviceReplyCode(c)).toBe(false);
    expect(isDeviceDefinedCode(100000.5)).toBe(false);
  });

  it('CODES.md prints exactly the table', () => {
    const md = readFileSync(join(__dirname, '..', 'CODES.md'), 'utf8');
    const rows = md
      .split('\n')
      .map((l) => /^\| (\d+) \| `([A-Z0-9_]+)` \| (device|cloud|both) \| (.+) \| (.+) \|$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ code: Number(m[1]), name: m[2], sender: m[3], meaning: m[4], source: m[5] }));
    expect(rows).toEqual(CODE_TABLE.map((c) => ({ code: c.code, name: c.name, sender: c.sender, meaning: c.meaning, source: c.source })));
  });
});

describe('error classes', () => {
  const fe: FieldError = { field: 'A', reason: 'range', expected: 'integer in [0, 1]', received: '2', message: 'A: expected integer in [0, 1], received 2' };

  it('each family carries its code and extends AlinkError', () => {
    const v = new ValidationError([fe, { ...fe, field: 'B', message: 'B: x' }]);
    expect([v.code, v.message, v.errors.length, v.name]).toEqual([460, 'A: expected integer in [0, 1], received 2; B: x', 2, 'ValidationError']);
    expect(new ValidationError([fe], 'custom').message).toBe('custom');
    expect(new ThrottleError().code).toBe(429);
    expect(new CloudReplyError(6204, 'device disabled').meaning).toBe('device disabled');
    expect(new CloudReplyError(123456, 'odd').meaning).toBeUndefined();
    const t = new TslError([{ path: 'properties[0].identifier', message: 'missing' }]);
    expect([t.code, t.problems.length, t.message]).toEqual([6317, 1, 'malformed Thing Model (1 problem): properties[0].identifier: missing']);
    for (const e of [v, new ThrottleError(), new HandlerError('x'), new CloudReplyError(500, 'x'), t]) {
      expect(e).toBeInstanceOf(AlinkError);
      expect(e).toBeInstanceOf(Error);
    }
  });

  it('HandlerError takes 400 or a device-defined code, and nothing else', () => {
    expect(new HandlerError('sensor offline').code).toBe(400);
    expect(new HandlerError('sensor offline', 100042).code).toBe(100042);
    const bad = new HandlerError('pretends to be the cloud', 6300);
    expect([bad.code, bad.requestedCode]).toEqual([400, 6300]);
    expect(new HandlerError('no', 460).code).toBe(400);
  });
});
