/** Generated TypeScript types: they compile (TypeScript compiler API) and describe the wire values. */
import { generateTypes, loadThingModel, loadThingModelFile } from '..';
import { typeName } from '../generate-types';
import { EXAMPLE_TSL, rw, tsl, typeCheck } from './helpers';

const source = generateTypes(loadThingModelFile(EXAMPLE_TSL));

describe('generateTypes on the example TSL', () => {
  it('compiles, and the types accept wire values and refuse wrong ones', () => {
    const usage = `
import type { Properties, WritableProperties, CalibrateInput, CalibrateOutput, ReadChannelsOutput, RebootOutput, HighTemperatureEvent, Services, Events } from './model';
export const set: Partial<WritableProperties> = { ReportInterval: 60, WorkMode: 1, AlarmEnable: 0, NextMaintenance: '1767225600000', UploadHours: [2, 14] };
export const input: CalibrateInput = { Sensor: 2, ReferenceValue: 25.5, SettleSeconds: 3 };
export const output: CalibrateOutput = { Success: 1, Offset: 0.5, CalibratedAt: '1700000000000', Message: 'ok' };
export const readings: ReadChannelsOutput = { Readings: [{ ChannelId: 1, Value: 2.5 }] };
export const reboot: RebootOutput = {};
export const ev: HighTemperatureEvent = { Temperature: 41.5, Threshold: 40, SensorId: 'ch3' };
export const status: Properties['GatewayStatus'] = { CpuLoad: 1, MemFree: 2, DiskFree: 3, Hostname: 'h', BootTime: '1', Healthy: 1, Uplink: 2 };
export type S = Services['Calibrate']['input'];
export type E = Events['SensorFault'];
// @ts-expect-error enum keys are 0, 1, 2
export const badEnum: Properties['WorkMode'] = 3;
// @ts-expect-error bool is 0 | 1, not boolean
export const badBool: Properties['AlarmEnable'] = true;
// @ts-expect-error date is a string
export const badDate: Properties['NextMaintenance'] = 1767225600000;
// @ts-expect-error read-only properties are not writable
export const badWrite: Partial<WritableProperties> = { Temperature: 20 };
// @ts-expect-error every struct member is required
export const badStruct: Properties['AlarmThresholds'] = { PM25High: 1 };
// @ts-expect-error a service output member is required
export const badOut: CalibrateOutput = { Success: 1 };
`;
    expect(typeCheck({ 'model.ts': source, 'usage.ts': usage })).toEqual([]);
  });

  it('declares every member with TSDoc from name, desc, unit and range', () => {
    for (const fragment of [
      'export interface Properties {',
      'export interface WritableProperties {',
      'ReportInterval: number;',
      'WorkMode: 0 | 1 | 2;',
      'AlarmEnable: 0 | 1;',
      'NextMaintenance: string;',
      'UploadHours: number[];',
      'NtpServers: string[];',
      'ChannelReadings: Array<{',
      'Quality: 0 | 1 | 2;',
      'export interface CalibrateInput {',
      'export interface CalibrateOutput {',
      'export type RebootOutput = Record<string, never>;',
      'export interface HighTemperatureEvent {',
      'export interface SensorFaultEvent {',
      'integer in [5, 3600], step 5, unit s (Second).',
      'Ambient temperature. Averaged over the last sampling window.',
      'Read-only.',
      'one of 0 (normal), 1 (power_saving), 2 (maintenance).',
    ]) {
      expect(source).toContain(fragment);
    }
    const writable = source.slice(source.indexOf('export interface WritableProperties'), source.indexOf('export interface CalibrateInput'));
    expect(writable).not.toContain('Temperature: number;\n');
    expect(writable).toContain('TempAlarmThreshold: number;');
  });
});

describe('generateTypes on odd models', () => {
  it('quotes module-prefixed members, escapes comment ends, handles empty models', () => {
    const m = loadThingModel(
      tsl([{ ...rw('fb:Power', { type: 'bool', specs: { '0': 'off', '1': 'on' } }), desc: 'ends a comment */ early\nand spans lines' }], {
        services: [{ identifier: 'fb:set_mode', name: 'Set mode', callType: 'async', inputData: [], outputData: [] }],
      }),
    );
    const src = generateTypes(m);
    expect(src).toContain('"fb:Power": 0 | 1;');
    expect(src).toContain('export type FbSetModeInput = Record<string, never>;');
    expect(src).toContain('"fb:set_mode": { input: FbSetModeInput; output: FbSetModeOutput };');
    expect(typeCheck({ 'odd.ts': src })).toEqual([]);
    expect(typeCheck({ 'empty.ts': generateTypes(loadThingModel(tsl([]))) })).toEqual([]);
  });
  it('derives type names from identifiers', () => {
    expect(typeName('Calibrate')).toBe('Calibrate');
    expect(typeName('testFb:set_mode')).toBe('TestFbSetMode');
    expect(typeName('3d_scan')).toBe('_3dScan');
  });
});
