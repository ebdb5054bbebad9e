/**
 * The parse-script sandbox on its own: a good script converts both ways; a script that throws, loops, eats
 * memory, returns garbage or lacks a function is answered with its code (docs/protocol/raw-data.md, "Codes"), and
 * the sandbox keeps answering afterwards.
 */
import { AlinkCodes } from '../thing-model';
import { ScriptSandbox } from '../simulator/scripts/sandbox';
import { RAW_SCRIPT } from '../bench/raw-script';

const open: ScriptSandbox[] = [];
const sandbox = (code: string, timeoutMs = 500) => {
  const s = new ScriptSandbox(code, { timeoutMs, maxHeapMb: 16 });
  open.push(s);
  return s;
};
afterAll(async () => {
  for (const s of open) await s.close();
});

const BOTH = 'function rawDataToProtocol(b) { return BODY; } function protocolToRawData(j) { return [1, 2, 255]; }';

describe('ScriptSandbox', () => {
  it('runs the example script both ways', async () => {
    const s = sandbox(RAW_SCRIPT);
    const down = await s.call<Uint8Array>('protocolToRawData', { id: '7', version: '1.0', method: 'thing.service.property.set', params: { ReportInterval: 60, TempAlarmThreshold: -2.5 } });
    expect(down.ok).toBe(true);
    const bytes = Buffer.from((down as { value: Uint8Array }).value);
    expect([...bytes]).toEqual([0x01, 0, 0, 0, 7, 0x10, 0, 60, 0x13, 0xff, 0xe7]);
    const up = await s.call('rawDataToProtocol', Buffer.from([0x81, 0, 0, 0, 7, 0, 200]));
    expect(up).toEqual({ ok: true, value: { id: '7', code: 200, data: {} } });
  });

  it.each([
    ['throws', BOTH.replace('BODY', '(function () { throw new Error("boom"); })()'), AlinkCodes.SCRIPT_ERROR, /boom/],
    ['loops', BOTH.replace('BODY', '(function () { for (;;) {} })()'), AlinkCodes.SCRIPT_ERROR, /did not finish within/],
    ['eats memory', BOTH.replace('BODY', '(function () { var a = []; for (;;) a.push(new Array(100000).join("x") + a.length); })()'), AlinkCodes.SCRIPT_ERROR, /heap|did not finish/],
    ['returns a string', BOTH.replace('BODY', '"garbage"'), AlinkCodes.SCRIPT_BAD_OUTPUT, /expected a JSON object/],
    ['returns nothing', BOTH.replace('BODY', 'undefined'), AlinkCodes.SCRIPT_RETURNED_NOTHING, /returned undefined/],
  ])('answers a script that %s with its code, and keeps answering', async (_what, code, expected, message) => {
    const s = sandbox(code);
    const r = await s.call('rawDataToProtocol', Buffer.from([1]));
    expect(r).toMatchObject({ ok: false, code: expected });
    expect((r as { message: string }).message).toMatch(message);
    const again = await s.call<Uint8Array>('protocolToRawData', {});
    expect(again.ok && [...again.value]).toEqual([1, 2, 255]);
  });

  it('refuses bytes out of range from protocolToRawData (26007)', async () => {
    const s = sandbox('function rawDataToProtocol(b) { return {}; } function protocolToRawData(j) { return [1, 300]; }');
    expect(await s.call('protocolToRawData', {})).toMatchObject({ ok: false, code: AlinkCodes.SCRIPT_BAD_OUTPUT, message: expect.stringMatching(/element 1/) });
  });

  it.each([
    ['empty', '  ', AlinkCodes.SCRIPT_NOT_FOUND],
    ['a syntax error', 'function (', AlinkCodes.SCRIPT_ERROR],
    ['a missing function', 'function rawDataToProtocol(b) { return {}; }', AlinkCodes.SCRIPT_MISSING_FUNCTIONS],
  ])('refuses %s at load', async (_what, code, expected) => {
    expect(await sandbox(code).load()).toMatchObject({ ok: false, code: expected });
  });

  it('gives the script no require, process or code generation', async () => {
    const s = sandbox('function rawDataToProtocol(b) { return { r: typeof require, p: typeof process, e: (function () { try { return eval("1"); } catch (x) { return "refused"; } })() }; } function protocolToRawData() { return []; }');
    expect(await s.call('rawDataToProtocol', Buffer.alloc(0))).toEqual({ ok: true, value: { r: 'undefined', p: 'undefined', e: 'refused' } });
  });
});
