/** `alink-agent tsl check|types FILE` through runTslCommand, on the local fixtures. */
import { join } from 'node:path';
import { runTslCommand } from '../cli';
import { EXAMPLE_TSL, FIXTURES } from './helpers';

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runTslCommand(argv, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}

describe('tsl check', () => {
  it('summarises a good TSL', async () => {
    const r = await run('check', EXAMPLE_TSL);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(r.out).toContain('OK, product a1GwDemo01');
    expect(r.out).toContain('properties: 19 (9 r, 10 rw)');
    expect(r.out).toContain('  rw: ReportInterval, WorkMode, AlarmEnable, TempAlarmThreshold, HumidityOffset, DeviceAlias, NextMaintenance, UploadHours, NtpServers, AlarmThresholds');
    expect(r.out).toContain('services: 4 (2 sync, 2 async)');
    expect(r.out).toContain('  sync:  Calibrate, ReadChannels');
    expect(r.out).toContain('  async: Reboot, ExportLogs');
    expect(r.out).toContain('events: 3 (1 info, 1 alert, 1 error)');
    expect(r.out).toContain('  alert: HighTemperature');
  });

  it('prints one line per problem of a broken TSL and exits 1', async () => {
    const file = join(FIXTURES, 'broken-gateway.json');
    const r = await run('check', file);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    const lines = r.err.trim().split('\n');
    expect(lines[0]).toBe(`${file}: ${lines.length - 1} problems`);
    expect(lines).toContain(`${file}: properties[0].dataType.specs.max: expected a number >= min (3600), received "5"`);
    expect(lines).toContain(`${file}: properties[1].dataType.specs: expected at least 1 entry, received none`);
    expect(lines.some((l) => l.startsWith(`${file}: properties[2].dataType.type: expected one of`))).toBe(true);
    expect(lines.some((l) => l.startsWith(`${file}: services[0].inputData[0].identifier: missing`))).toBe(true);
  });

  it('exits 1 on a missing file', async () => {
    const r = await run('check', join(FIXTURES, 'nope.json'));
    expect(r.code).toBe(1);
    expect(r.err).toContain('ENOENT');
  });
});

describe('tsl types', () => {
  it('prints the generated types', async () => {
    const r = await run('types', EXAMPLE_TSL);
    expect(r.code).toBe(0);
    expect(r.out).toContain('export interface WritableProperties {');
    expect(r.out).toContain('export interface CalibrateInput {');
  });
  it('exits 1 on a broken TSL', async () => {
    expect((await run('types', join(FIXTURES, 'broken-gateway.json'))).code).toBe(1);
  });
});

describe('usage errors exit 2', () => {
  it.each([[[]], [['check']], [['lint', EXAMPLE_TSL]], [['check', EXAMPLE_TSL, 'extra']], [['--help']]])('%j', async (argv) => {
    const r = await run(...argv);
    expect(r.code).toBe(2);
    expect(r.err).toContain('usage: alink-agent tsl check FILE');
  });
});
