/** Each data type and each rejection reason, on hand-written models. */
import { compileThingModel, loadThingModel, loadThingModelFile, type CompileOptions, type FieldError, type Validation } from '..';
import { EXAMPLE_TSL, rw, single, tsl } from './helpers';

function setOf(dataType: object, opts?: CompileOptions) {
  const c = compileThingModel(single(dataType), opts);
  return (value: unknown) => c.validatePropertySet({ X: value });
}

function reasons(v: Validation<unknown>): string[] {
  return v.ok ? [] : v.errors.map((e) => `${e.field}:${e.reason}`);
}

function only(v: Validation<unknown>): FieldError {
  if (v.ok) throw new Error('expected a rejection');
  expect(v.code).toBe(460);
  expect(v.errors).toHaveLength(1);
  return v.errors[0] as FieldError;
}

describe('int', () => {
  const check = setOf({ type: 'int', specs: { min: '-10', max: '10', step: '2' } });
  it('accepts JSON integers in range on step', () => {
    for (const v of [-10, -8, 0, 10]) expect(check(v).ok).toBe(true);
  });
  it('rejects each wrong kind of value with its reason', () => {
    expect(only(check(11)).reason).toBe('range');
    expect(only(check(-12)).reason).toBe('range');
    expect(only(check(1)).reason).toBe('step');
    expect(only(check(1.5)).reason).toBe('type');
    expect(only(check('4')).reason).toBe('type');
    expect(only(check(true)).reason).toBe('type');
    expect(only(check(null)).reason).toBe('type');
    expect(only(check(Number.NaN)).reason).toBe('type');
    expect(only(check(Number.POSITIVE_INFINITY)).reason).toBe('type');
  });
  it('says why a numeric string is refused ([POLICY])', () => {
    const e = only(check('4'));
    expect(e.message).toBe('X: expected integer in [-10, 10], received "4" (a string; numbers must be JSON numbers)');
    expect(e.expected).toBe('integer in [-10, 10]');
    expect(e.received).toContain('"4"');
  });
  it('handles min = max', () => {
    const c = setOf({ type: 'int', specs: { min: '7', max: '7', step: '1' } });
    expect(c(7).ok).toBe(true);
    expect(only(c(8)).reason).toBe('range');
  });
  it('skips the step test with enforceStep: false', () => {
    expect(setOf({ type: 'int', specs: { min: '-10', max: '10', step: '2' } }, { enforceStep: false })(1).ok).toBe(true);
  });
});

describe('float and double', () => {
  it('accept values on a decimal step despite binary rounding (0.3 on step 0.1)', () => {
    const c = setOf({ type: 'double', specs: { min: '0', max: '1', step: '0.1' } });
    for (const v of [0.3, 0.7, 0.1 + 0.2, 0.9, 1]) expect(c(v).ok).toBe(true);
    expect(only(c(0.35)).reason).toBe('step');
    expect(only(c(0.35)).message).toBe('X: expected double in [0, 1] in steps of 0.1 from 0 (e.g. 0.3 or 0.4), received 0.35');
  });
  it('accept integral JSON numbers', () => {
    expect(setOf({ type: 'float', specs: { min: '-40', max: '85', step: '0.5' } })(30).ok).toBe(true);
  });
  it('accept a float that went through single precision on the device', () => {
    const c = setOf({ type: 'float', specs: { min: '-40', max: '85', step: '0.1' } });
    expect(c(Math.fround(21.4)).ok).toBe(true);
    expect(c(Math.fround(84.9)).ok).toBe(true);
  });
  it('stay strict at the top of a wide double range', () => {
    const c = setOf({ type: 'double', specs: { min: '-100000', max: '100000', step: '0.001' } });
    expect(c(99999.999).ok).toBe(true);
    expect(only(c(99999.9995)).reason).toBe('step');
  });
  it('count the step from min', () => {
    const c = setOf({ type: 'float', specs: { min: '0.25', max: '10', step: '0.5' } });
    expect(c(0.75).ok).toBe(true);
    expect(only(c(1)).reason).toBe('step');
  });
  it('reject non-finite numbers, strings and booleans', () => {
    const c = setOf({ type: 'double', specs: { min: '0', max: '100', step: '0.01' } });
    expect(only(c(Number.NaN)).reason).toBe('type');
    expect(only(c('30')).reason).toBe('type');
    expect(only(c(false)).reason).toBe('type');
    expect(only(c(100.5)).message).toBe('X: expected double in [0, 100], received 100.5');
  });
});

describe('text', () => {
  const check = setOf({ type: 'text', specs: { length: '4' } });
  it('counts Unicode code points, not UTF-16 units or bytes', () => {
    expect(check('😀😀😀😀').ok).toBe(true); // 8 UTF-16 units, 16 bytes, 4 characters
    expect(check('温度传感').ok).toBe(true);
    const e = only(check('😀😀😀😀😀'));
    expect(e.reason).toBe('length');
    expect(e.received).toContain('(5 characters)');
  });
  it('rejects non-strings', () => {
    expect(only(check(1234)).reason).toBe('type');
  });
});

describe('date', () => {
  const check = setOf({ type: 'date', specs: {} });
  it('takes a string of UTC milliseconds', () => {
    expect(check('1767225600000').ok).toBe(true);
    expect(check('0').ok).toBe(true);
  });
  it('rejects JSON numbers, ISO strings and signed or fractional text', () => {
    expect(only(check(1767225600000)).reason).toBe('type');
    for (const v of ['2026-01-01T00:00:00Z', '-1', '1.5', '', '12345678901234567']) expect(only(check(v)).reason).toBe('date');
  });
  it('accepts the [] specs of some exports', () => {
    expect(setOf({ type: 'date', specs: [] })('1').ok).toBe(true);
  });
});

describe('bool and enum', () => {
  it('bool is the integer 0 or 1, never true/false', () => {
    const c = setOf({ type: 'bool', specs: { '0': 'off', '1': 'on' } });
    expect(c(0).ok && c(1).ok).toBe(true);
    expect(only(c(true)).reason).toBe('type');
    expect(only(c(2)).reason).toBe('enum');
    expect(only(c('1')).reason).toBe('type');
  });
  it('enum takes integers whose decimal string is a key', () => {
    const c = setOf({ type: 'enum', specs: { '-1': 'low', '5': 'five', '01': 'odd key' } });
    expect(c(-1).ok && c(5).ok).toBe(true);
    expect(only(c(1)).reason).toBe('enum');
    expect(only(c('5')).reason).toBe('type');
    expect(only(c(5.5)).reason).toBe('type');
  });
});

describe('struct', () => {
  const dt = {
    type: 'struct',
    specs: [
      { identifier: 'A', name: 'a', dataType: { type: 'int', specs: { min: '0', max: '9', step: '1' } } },
      { identifier: 'B', name: 'b', dataType: { type: 'text', specs: { length: '3' } } },
    ],
  };
  it('needs every member, no unknown one, each valid', () => {
    const c = setOf(dt);
    expect(c({ A: 1, B: 'abc' }).ok).toBe(true);
    expect(reasons(c({ A: 1 }))).toEqual(['X.B:missing']);
    expect(reasons(c({ A: 10, B: 'abcd', C: 1 }))).toEqual(['X.A:range', 'X.B:length', 'X.C:unknown']);
    expect(reasons(c([1, 'a']))).toEqual(['X:notObject']);
    expect(reasons(c(null))).toEqual(['X:notObject']);
  });
  it('takes partial members with partialStructs', () => {
    expect(setOf(dt, { partialStructs: true })({ B: 'x' }).ok).toBe(true);
  });
  it('an empty struct takes only {}', () => {
    const c = setOf({ type: 'struct', specs: [] });
    expect(c({}).ok).toBe(true);
    expect(reasons(c({ A: 1 }))).toEqual(['X.A:unknown']);
  });
});

describe('array', () => {
  it('checks size and every item, naming the index', () => {
    const c = setOf({ type: 'array', specs: { size: '3', item: { type: 'int', specs: { min: '0', max: '23', step: '1' } } } });
    expect(c([]).ok && c([0, 23]).ok).toBe(true);
    expect(reasons(c([1, 24, 'x']))).toEqual(['X[1]:range', 'X[2]:type']);
    expect(reasons(c([1, 2, 3, 4]))).toEqual(['X:size']);
    expect(reasons(c({ 0: 1 }))).toEqual(['X:type']);
  });
  it('an array of struct names the member path', () => {
    const c = setOf({
      type: 'array',
      specs: {
        size: '4',
        item: { type: 'struct', specs: [{ identifier: 'V', name: 'v', dataType: { type: 'double', specs: { min: '0', max: '1', step: '0.5' } } }] },
      },
    });
    expect(c([{ V: 0.5 }, { V: 1 }]).ok).toBe(true);
    expect(reasons(c([{ V: 0.5 }, { V: 2 }, { W: 1 }]))).toEqual(['X[1].V:range', 'X[2].W:unknown', 'X[2].V:missing']);
  });
  it('accepts an item exported without specs', () => {
    const c = setOf({ type: 'array', specs: { size: '2', item: { type: 'int' } } });
    expect(c([-5, 1e9]).ok).toBe(true);
    expect(reasons(c([1.5]))).toEqual(['X[0]:type']);
  });
});

describe('module-prefixed identifiers', () => {
  const model = loadThingModel(
    tsl([rw('testFb:Switch', { type: 'bool', specs: { '0': 'off', '1': 'on' } })], {
      services: [{ identifier: 'testFb:Blink', name: 'Blink', callType: 'async', method: 'thing.service.testFb:Blink', inputData: [], outputData: [] }],
    }),
  );
  const c = compileThingModel(model);
  it('are properties and services like any other', () => {
    expect(c.validatePropertySet({ 'testFb:Switch': 1 }).ok).toBe(true);
    expect(reasons(c.validatePropertySet({ Switch: 1 }))).toEqual(['Switch:unknown']);
    expect(c.validateServiceInput('testFb:Blink', {}).ok).toBe(true);
  });
});

describe('property set and post as a whole', () => {
  const c = compileThingModel(loadThingModelFile(EXAMPLE_TSL));
  it('refuses a non-object or empty params', () => {
    for (const p of [null, [], 'x', 3, undefined]) expect(reasons(c.validatePropertySet(p))).toEqual(['params:notObject']);
    expect(reasons(c.validatePropertySet({}))).toEqual(['params:missing']);
    expect(reasons(c.validatePropertyPost({}))).toEqual(['params:missing']);
  });
  it('posts take read-only properties, bare or {value, time}', () => {
    expect(c.validatePropertyPost({ Temperature: 21.5, Humidity: { value: 40.25, time: 1700000000000 }, WorkMode: { value: 1 } }).ok).toBe(true);
    expect(reasons(c.validatePropertyPost({ Temperature: { value: 21.5, time: '1700000000000' } }))).toEqual(['Temperature.time:type']);
    expect(reasons(c.validatePropertyPost({ Temperature: { value: 90, time: 1 } }))).toEqual(['Temperature:range']);
    expect(reasons(c.validatePropertyPost({ Temperature: { value: 20, at: 1 } }))).toEqual(['Temperature:type']);
    expect(reasons(c.validatePropertyPost({ FanSpeed: 1 }))).toEqual(['FanSpeed:unknown']);
  });
  it('posts of struct properties accept the struct bare or wrapped', () => {
    const status = { CpuLoad: 12.5, MemFree: 1024, DiskFree: 10.25, Hostname: 'gw', BootTime: '1700000000000', Healthy: 1, Uplink: 2 };
    expect(c.validatePropertyPost({ GatewayStatus: status }).ok).toBe(true);
    expect(c.validatePropertyPost({ GatewayStatus: { value: status, time: 5 } }).ok).toBe(true);
    expect(reasons(c.validatePropertyPost({ GatewayStatus: { value: { ...status, Uplink: 7 } } }))).toEqual(['GatewayStatus.Uplink:enum']);
  });
  it('refuses more than 200 properties in one post', () => {
    const many: Record<string, unknown> = {};
    for (let i = 0; i < 201; i++) many[`P${i}`] = i;
    const v = c.validatePropertyPost(many);
    expect(v.ok).toBe(false);
    expect(v.ok ? '' : (v.errors[0] as FieldError).reason).toBe('size');
  });
  it('never throws on hostile input', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const proto = JSON.parse('{"__proto__": {"ReportInterval": 5}}') as unknown;
    for (const p of [cyclic, proto, { ReportInterval: cyclic }, { AlarmThresholds: cyclic }, Object.create(null) as object]) {
      expect(() => c.validatePropertySet(p)).not.toThrow();
      expect(() => c.validatePropertyPost(p)).not.toThrow();
    }
    expect(reasons(c.validatePropertySet(proto))).toEqual(['__proto__:unknown']);
  });
});

describe('services and events', () => {
  const c = compileThingModel(loadThingModelFile(EXAMPLE_TSL));
  it('validate service input and output, every member required', () => {
    expect(c.validateServiceInput('Calibrate', { Sensor: 1, ReferenceValue: 25.5, SettleSeconds: 3 }).ok).toBe(true);
    expect(reasons(c.validateServiceInput('Calibrate', { Sensor: 4, ReferenceValue: 25.5 }))).toEqual(['Sensor:enum', 'SettleSeconds:missing']);
    expect(c.validateServiceOutput('Calibrate', { Success: 1, Offset: 0.125, CalibratedAt: '1700000000000', Message: 'ok' }).ok).toBe(true);
    expect(reasons(c.validateServiceOutput('Calibrate', { Success: true, Offset: 0.125, CalibratedAt: '1', Message: 'ok' }))).toEqual(['Success:type']);
    expect(c.validateServiceInput('Reboot', { DelaySeconds: 0 }).ok).toBe(true);
    expect(c.validateServiceOutput('Reboot', {}).ok).toBe(true);
    expect(reasons(c.validateServiceOutput('Reboot', { Extra: 1 }))).toEqual(['Extra:unknown']);
    expect(reasons(c.validateServiceInput('Reboot', 'now'))).toEqual(['params:notObject']);
    expect(reasons(c.validateServiceOutput('Reboot', null))).toEqual(['data:notObject']);
  });
  it('array of struct output names index and member', () => {
    const v = c.validateServiceOutput('ReadChannels', { Readings: [{ ChannelId: 1, Value: 2.5 }, { ChannelId: 17, Value: 1 }] });
    expect(reasons(v)).toEqual(['Readings[1].ChannelId:range']);
  });
  it('an unknown service or event is a 460 naming it', () => {
    const v = c.validateServiceInput('SelfDestruct', {});
    expect(reasons(v)).toEqual(['SelfDestruct:unknown']);
    expect(v.ok ? '' : v.message).toContain('SelfDestruct: unknown service');
    expect(reasons(c.validateServiceOutput('set', {}))).toEqual(['set:unknown']);
    expect(reasons(c.validateEventOutput('Explosion', {}))).toEqual(['Explosion:unknown']);
    expect(reasons(c.validateEventOutput('post', {}))).toEqual(['post:unknown']);
  });
  it('validate event output', () => {
    expect(c.validateEventOutput('HighTemperature', { Temperature: 41.5, Threshold: 40.0, SensorId: 'ch3' }).ok).toBe(true);
    expect(reasons(c.validateEventOutput('HighTemperature', { Temperature: 41.5, Threshold: 40.0 }))).toEqual(['SensorId:missing']);
    expect(reasons(c.validateEventOutput('HighTemperature', 5))).toEqual(['value:notObject']);
  });
  it('look definitions up by identifier', () => {
    expect(c.property('ReportInterval')?.accessMode).toBe('rw');
    expect(c.service('Calibrate')?.callType).toBe('sync');
    expect(c.event('SensorFault')?.type).toBe('error');
    expect(c.property('nope')).toBeUndefined();
    expect(c.service('set')).toBeUndefined();
    expect(c.event('post')).toBeUndefined();
  });
});
