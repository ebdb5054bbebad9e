/** The TSL-aware serializer: float/double keep a decimal point on the wire, nothing else changes. */
import fc from 'fast-check';
import { compileThingModel, floatText, loadThingModel, loadThingModelFile } from '..';
import { EXAMPLE_TSL, rw, tsl } from './helpers';

const gw = compileThingModel(loadThingModelFile(EXAMPLE_TSL));

describe('floatText', () => {
  it('adds .0 to integral values only, exponent forms included', () => {
    expect(floatText(10)).toBe('10.0');
    expect(floatText(-0)).toBe('0.0');
    expect(floatText(21.5)).toBe('21.5');
    expect(floatText(1e21)).toBe('1.0e+21');
    expect(floatText(1.5e-7)).toBe('1.5e-7');
    expect(floatText(Number.NaN)).toBe('null');
    expect(floatText(Number.POSITIVE_INFINITY)).toBe('null');
  });
  it('always gives JSON that parses back to the same number', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => {
        const s = floatText(n);
        expect(JSON.parse(s)).toBe(n === 0 ? 0 : n);
        expect(s).toMatch(/[.e]/);
      }),
      { numRuns: 500 },
    );
  });
});

describe('stringifyPropertyPost', () => {
  it('keeps floats floats and ints ints, bare and {value, time}', () => {
    const envelope = {
      id: '51',
      version: '1.0',
      sys: { ack: 1 },
      params: { Temperature: { value: 21, time: 1700000000000 }, Humidity: 40, PM25: 12, WorkMode: 1, FirmwareVersion: '1.0.0', SensorOnline: 1 },
      method: 'thing.event.property.post',
    };
    const s = gw.stringifyPropertyPost(envelope);
    expect(s).toBe(
      '{"id":"51","version":"1.0","sys":{"ack":1},"params":{"Temperature":{"value":21.0,"time":1700000000000},"Humidity":40.0,"PM25":12,"WorkMode":1,"FirmwareVersion":"1.0.0","SensorOnline":1},"method":"thing.event.property.post"}',
    );
    expect(JSON.parse(s)).toEqual(envelope);
  });

  it('reaches floats nested in structs and arrays of structs', () => {
    const params = {
      GatewayStatus: { CpuLoad: 12, MemFree: 2048, DiskFree: 100, Hostname: 'gw', BootTime: '1700000000000', Healthy: 1, Uplink: 0 },
      ChannelReadings: [
        { ChannelId: 1, Value: 3, Quality: 0, SampledAt: '1700000000000' },
        { ChannelId: 2, Value: -7.25, Quality: 1, SampledAt: '1700000000001' },
      ],
      ParticleHistogram: [1, 2, 3],
      AlarmThresholds: { PM25High: 150, TempHigh: 40, HumidityHigh: 85, Enabled: 1, Level: 2, Note: 'n', EffectiveFrom: '0' },
    };
    const s = gw.stringifyPropertyPost({ id: '1', params });
    expect(s).toContain('"CpuLoad":12.0,"MemFree":2048,"DiskFree":100.0');
    expect(s).toContain('"Value":3.0');
    expect(s).toContain('"Value":-7.25');
    expect(s).toContain('"ParticleHistogram":[1,2,3]');
    expect(s).toContain('"PM25High":150,"TempHigh":40.0,"HumidityHigh":85.0');
    expect(JSON.parse(s)).toEqual({ id: '1', params });
  });

  it('behaves like JSON.stringify for everything the TSL does not type', () => {
    const envelope = { id: '2', params: { Unknown: 5, Temperature: 'not a number', Humidity: null, Skip: undefined, Fn: () => 1 }, extra: [undefined, 1] };
    expect(gw.stringifyPropertyPost(envelope)).toBe(JSON.stringify(envelope));
    expect(JSON.parse(gw.stringifyPropertyPost(envelope))).toEqual(JSON.parse(JSON.stringify(envelope)));
  });

  it('is exactly JSON.stringify when no float is integral', () => {
    const e = { id: '4', params: { Temperature: 21.37, Humidity: { value: 40.5, time: 1 }, PM25: 3, GatewayStatus: { CpuLoad: 0.5, DiskFree: 1.25, MemFree: 1 } } };
    expect(gw.stringifyPropertyPost(e)).toBe(JSON.stringify(e));
    const withDate = { id: '5', params: { Temperature: 20 }, at: new Date(0) };
    expect(JSON.parse(gw.stringifyPropertyPost(withDate))).toEqual(JSON.parse(JSON.stringify(withDate)));
  });

  it('writes non-finite floats as null, as JSON.stringify does', () => {
    expect(gw.stringifyPropertyPost({ params: { Temperature: Number.NaN } })).toBe('{"params":{"Temperature":null}}');
  });

  it('escapes keys and strings', () => {
    const envelope = { 'we"ird': 'a\nb', params: { 'x"y': 1.5, Humidity: 2 } };
    const s = gw.stringifyPropertyPost(envelope);
    expect(JSON.parse(s)).toEqual(envelope);
    expect(s).toContain('"Humidity":2.0');
  });

  it('a model without floats is plain JSON.stringify', () => {
    const c = compileThingModel(loadThingModel(tsl([rw('N', { type: 'int', specs: { min: '0', max: '9', step: '1' } })])));
    const e = { id: '3', params: { N: 4 } };
    expect(c.stringifyPropertyPost(e)).toBe(JSON.stringify(e));
  });

  it('round-trips random posts of the example model', () => {
    const value = fc.oneof(fc.integer({ min: -40, max: 85 }), fc.double({ min: -40, max: 85, noNaN: true }));
    fc.assert(
      fc.property(value, value, fc.integer({ min: 0, max: 2 ** 42 }), (t, h, time) => {
        const e = { id: '9', params: { Temperature: t, Humidity: { value: h, time } } };
        const s = gw.stringifyPropertyPost(e);
        expect(JSON.parse(s)).toEqual(JSON.parse(JSON.stringify(e)));
        expect(s).toMatch(/"Temperature":-?[0-9]+(\.[0-9]+|\.[0-9]*e[-+][0-9]+|e[-+][0-9]+)/);
      }),
      { numRuns: 200 },
    );
  });
});

describe('stringifyEventPost and stringifyServiceReply', () => {
  it('event output floats keep their point', () => {
    const e = { id: '52', version: '1.0', params: { value: { Temperature: 41, Threshold: 40, SensorId: 'ch3' }, time: 1700000000000 }, method: 'thing.event.HighTemperature.post' };
    const s = gw.stringifyEventPost('HighTemperature', e);
    expect(s).toBe(
      '{"id":"52","version":"1.0","params":{"value":{"Temperature":41.0,"Threshold":40.0,"SensorId":"ch3"},"time":1700000000000},"method":"thing.event.HighTemperature.post"}',
    );
    expect(JSON.parse(s)).toEqual(e);
  });
  it('events without floats, and unknown events, are plain JSON', () => {
    const e = { id: '53', params: { value: { Reason: 1, FirmwareVersion: '2.0' } } };
    expect(gw.stringifyEventPost('BootCompleted', e)).toBe(JSON.stringify(e));
    expect(gw.stringifyEventPost('Nope', { params: { value: { X: 1 } } })).toBe('{"params":{"value":{"X":1}}}');
  });
  it('service output floats keep their point, arrays of structs included', () => {
    const r = { id: '7', code: 200, data: { Success: 1, Offset: 2, CalibratedAt: '1700000000000', Message: 'ok' } };
    expect(gw.stringifyServiceReply('Calibrate', r)).toBe('{"id":"7","code":200,"data":{"Success":1,"Offset":2.0,"CalibratedAt":"1700000000000","Message":"ok"}}');
    const rc = { id: '8', code: 200, data: { Readings: [{ ChannelId: 1, Value: 5 }] } };
    expect(gw.stringifyServiceReply('ReadChannels', rc)).toBe('{"id":"8","code":200,"data":{"Readings":[{"ChannelId":1,"Value":5.0}]}}');
    expect(gw.stringifyServiceReply('Reboot', { id: '9', code: 200, data: {} })).toBe('{"id":"9","code":200,"data":{}}');
  });
});
