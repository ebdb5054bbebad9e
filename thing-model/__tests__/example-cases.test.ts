/** The twelve property-set cases of docs/protocol/tsl.md ("Property-set cases"), on the example gateway TSL. */
import { compileThingModel, loadThingModelFile } from '..';
import { EXAMPLE_TSL } from './helpers';

const model = compileThingModel(loadThingModelFile(EXAMPLE_TSL));

type Case = [number, Record<string, unknown>, number, { field: string; reason: string; fragment?: string }[]];

const cases: Case[] = [
  [1, { ReportInterval: 60, WorkMode: 1, AlarmEnable: 1, TempAlarmThreshold: 30.5 }, 200, []],
  [
    2,
    {
      AlarmThresholds: { PM25High: 150, TempHigh: 40.0, HumidityHigh: 85.5, Enabled: 1, Level: 2, Note: 'summer profile', EffectiveFrom: '1767225600000' },
      UploadHours: [2, 14],
      NtpServers: ['ntp1.aliyun.com', 'pool.ntp.org'],
      NextMaintenance: '1767225600000',
    },
    200,
    [],
  ],
  [3, { Temperature: 21.5 }, 460, [{ field: 'Temperature', reason: 'readOnly', fragment: 'read-only' }]],
  [4, { ReportInterval: 7200 }, 460, [{ field: 'ReportInterval', reason: 'range', fragment: 'expected integer in [5, 3600], received 7200' }]],
  [5, { ReportInterval: 'sixty' }, 460, [{ field: 'ReportInterval', reason: 'type', fragment: 'received "sixty"' }]],
  [6, { FanSpeed: 3 }, 460, [{ field: 'FanSpeed', reason: 'unknown', fragment: 'unknown property' }]],
  [7, { DeviceAlias: 'gateway-in-the-north-wing-server-room' }, 460, [{ field: 'DeviceAlias', reason: 'length', fragment: '37 characters' }]],
  [8, { WorkMode: 3 }, 460, [{ field: 'WorkMode', reason: 'enum', fragment: 'received 3' }]],
  [9, { NextMaintenance: '2026-01-01T00:00:00Z' }, 460, [{ field: 'NextMaintenance', reason: 'date', fragment: 'received "2026-01-01T00:00:00Z"' }]],
  [
    10,
    { AlarmThresholds: { PM25High: 150, TempHigh: 40.0 } },
    460,
    ['HumidityHigh', 'Enabled', 'Level', 'Note', 'EffectiveFrom'].map((m) => ({ field: `AlarmThresholds.${m}`, reason: 'missing' })),
  ],
  [11, { UploadHours: [0, 4, 8, 12, 16, 20, 22] }, 460, [{ field: 'UploadHours', reason: 'size', fragment: 'expected at most 6 elements, received 7' }]],
  [12, { ReportInterval: 62 }, 460, [{ field: 'ReportInterval', reason: 'step', fragment: 'e.g. 60 or 65' }]],
];

describe('docs/protocol/tsl.md property-set cases', () => {
  it.each(cases)('case %i', (_n, params, code, expected) => {
    const v = model.validatePropertySet(params);
    if (code === 200) {
      expect(v).toEqual({ ok: true, value: params });
      return;
    }
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.code).toBe(460);
    expect(v.errors.map((e) => ({ field: e.field, reason: e.reason }))).toEqual(expected.map(({ field, reason }) => ({ field, reason })));
    for (const [i, e] of expected.entries()) {
      const got = v.errors[i];
      expect(got?.message.startsWith(`${e.field}: `)).toBe(true);
      if (e.fragment) expect(got?.message).toContain(e.fragment);
    }
    expect(v.message).toBe(v.errors.map((e) => e.message).join('; '));
  });

  it('words case 4 exactly as the brief shows', () => {
    const v = model.validatePropertySet({ ReportInterval: 7200 });
    expect(v.ok ? '' : v.message).toBe('ReportInterval: expected integer in [5, 3600], received 7200');
  });

  it('collects one message per bad field, not just the first', () => {
    const v = model.validatePropertySet({ ReportInterval: 7200, WorkMode: 9, Temperature: 1, FanSpeed: 2, DeviceAlias: 'ok' });
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.errors.map((e) => `${e.field}:${e.reason}`)).toEqual(['ReportInterval:range', 'WorkMode:enum', 'Temperature:readOnly', 'FanSpeed:unknown']);
    expect(v.message.split('; ')).toHaveLength(4);
  });

  it('case 10 passes with partialStructs, case 12 with enforceStep: false', () => {
    const lenient = compileThingModel(model.model, { partialStructs: true, enforceStep: false });
    expect(lenient.validatePropertySet({ AlarmThresholds: { PM25High: 150, TempHigh: 40.0 } }).ok).toBe(true);
    expect(lenient.validatePropertySet({ ReportInterval: 62 }).ok).toBe(true);
    // Unknown struct members stay refused even when partial structs are allowed.
    const v = lenient.validatePropertySet({ AlarmThresholds: { PM25High: 150, Colour: 'red' } });
    expect(v.ok ? [] : v.errors.map((e) => `${e.field}:${e.reason}`)).toEqual(['AlarmThresholds.Colour:unknown']);
  });
});
