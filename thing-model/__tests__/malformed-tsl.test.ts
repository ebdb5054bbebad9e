/** A corpus of malformed TSLs: every kind of mistake gives its JSON path and what was expected. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkTsl, loadThingModel, loadThingModelFile, TslError, type TslProblem } from '..';
import { EXAMPLE_TSL, FIXTURES, rw, tsl } from './helpers';

const int = (specs: object) => ({ type: 'int', specs });
const goodInt = int({ min: '0', max: '10', step: '1' });

function problemsOf(json: unknown): TslProblem[] {
  try {
    loadThingModel(json);
  } catch (e) {
    expect(e).toBeInstanceOf(TslError);
    const err = e as TslError;
    expect(err.code).toBe(6317);
    expect(err.message).toContain(err.problems[0]?.path ?? '');
    return err.problems;
  }
  throw new Error('expected a TslError');
}

/** [what, TSL, expected path, a fragment of the message] */
const corpus: [string, unknown, string, string][] = [
  ['unknown data type', tsl([rw('A', { type: 'number', specs: {} })]), 'properties[0].dataType.type', 'one of "int"'],
  ['min > max', tsl([rw('A', int({ min: '10', max: '5', step: '1' }))]), 'properties[0].dataType.specs.max', '>= min (10)'],
  ['non-numeric max', tsl([rw('A', int({ min: '0', max: 'ten', step: '1' }))]), 'properties[0].dataType.specs.max', 'received "ten"'],
  ['non-numeric step', tsl([rw('A', { type: 'float', specs: { min: '0', max: '1', step: '0.1.2' } })]), 'properties[0].dataType.specs.step', 'decimal number'],
  ['step = 0', tsl([rw('A', { type: 'double', specs: { min: '0', max: '1', step: '0' } })]), 'properties[0].dataType.specs.step', 'expected a number > 0'],
  ['step < 0', tsl([rw('A', int({ min: '0', max: '10', step: '-1' }))]), 'properties[0].dataType.specs.step', 'expected a number > 0'],
  ['fractional int bound', tsl([rw('A', int({ min: '0.5', max: '10', step: '1' }))]), 'properties[0].dataType.specs.min', 'expected an integer'],
  ['missing min', tsl([rw('A', int({ max: '10', step: '1' }))]), 'properties[0].dataType.specs.min', 'missing'],
  ['enum with no entries', tsl([rw('A', { type: 'enum', specs: {} })]), 'properties[0].dataType.specs', 'at least 1 entry'],
  ['enum key not an integer', tsl([rw('A', { type: 'enum', specs: { a: 'x' } })]), 'properties[0].dataType.specs.a', 'integer key'],
  ['bool without "1"', tsl([rw('A', { type: 'bool', specs: { '0': 'off' } })]), 'properties[0].dataType.specs.1', 'missing'],
  [
    'struct member without identifier',
    tsl([rw('A', { type: 'struct', specs: [{ name: 'x', dataType: goodInt }] })]),
    'properties[0].dataType.specs[0].identifier',
    'missing',
  ],
  [
    'struct member of type struct',
    tsl([rw('A', { type: 'struct', specs: [{ identifier: 'S', name: 's', dataType: { type: 'struct', specs: [] } }] })]),
    'properties[0].dataType.specs[0].dataType.type',
    'one of',
  ],
  [
    'duplicate struct member',
    tsl([rw('A', { type: 'struct', specs: [{ identifier: 'M', name: 'm', dataType: goodInt }, { identifier: 'M', name: 'm2', dataType: goodInt }] })]),
    'properties[0].dataType.specs[1].identifier',
    'unique identifier',
  ],
  ['duplicate property', tsl([rw('A', goodInt), rw('B', goodInt), rw('A', goodInt)]), 'properties[2].identifier', 'also at properties[0]'],
  ['array without item type', tsl([rw('A', { type: 'array', specs: { size: '3' } })]), 'properties[0].dataType.specs.item', 'missing'],
  ['array item of type date', tsl([rw('A', { type: 'array', specs: { size: '3', item: { type: 'date' } } })]), 'properties[0].dataType.specs.item.type', 'one of'],
  ['array size over 512', tsl([rw('A', { type: 'array', specs: { size: '513', item: { type: 'int' } } })]), 'properties[0].dataType.specs.size', '[1, 512]'],
  ['array size 0', tsl([rw('A', { type: 'array', specs: { size: '0', item: { type: 'int' } } })]), 'properties[0].dataType.specs.size', '[1, 512]'],
  ['text length over 10240', tsl([rw('A', { type: 'text', specs: { length: '10241' } })]), 'properties[0].dataType.specs.length', '[1, 10240]'],
  ['text length not a number', tsl([rw('A', { type: 'text', specs: { length: 'long' } })]), 'properties[0].dataType.specs.length', 'integer'],
  [
    'struct with 51 members',
    tsl([rw('A', { type: 'struct', specs: Array.from({ length: 51 }, (_, i) => ({ identifier: `M${i}`, name: 'm', dataType: goodInt })) })]),
    'properties[0].dataType.specs',
    'at most 50 entries',
  ],
  [
    'enum with 101 items',
    tsl([rw('A', { type: 'enum', specs: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [String(i), 'x'])) })]),
    'properties[0].dataType.specs',
    'at most 100 entries',
  ],
  ['bad accessMode', tsl([{ identifier: 'A', name: 'a', accessMode: 'w', dataType: goodInt }]), 'properties[0].accessMode', '"r" or "rw"'],
  ['identifier with a slash', tsl([rw('a/b', goodInt)]), 'properties[0].identifier', 'letters, digits'],
  ['no productKey', { profile: {}, properties: [] }, 'profile.productKey', 'missing'],
  ['not an object', [1, 2], '(root)', 'a TSL object'],
  [
    'service with bad callType',
    tsl([], { services: [{ identifier: 'S', name: 's', callType: 'rrpc', inputData: [], outputData: [] }] }),
    'services[0].callType',
    '"sync" or "async"',
  ],
  [
    'service method not matching identifier',
    tsl([], { services: [{ identifier: 'S', name: 's', callType: 'sync', method: 'thing.service.T', inputData: [], outputData: [] }] }),
    'services[0].method',
    'thing.service.S',
  ],
  [
    'service input with a bad type',
    tsl([], { services: [{ identifier: 'S', name: 's', callType: 'sync', inputData: [{ identifier: 'I', name: 'i', dataType: int({ min: '1', max: '0' }) }], outputData: [] }] }),
    'services[0].inputData[0].dataType.specs.max',
    '>= min',
  ],
  ['event with bad type', tsl([], { events: [{ identifier: 'E', name: 'e', type: 'warning', outputData: [] }] }), 'events[0].type', '"info", "alert" or "error"'],
  ['event without outputData', tsl([], { events: [{ identifier: 'E', name: 'e', type: 'info' }] }), 'events[0].outputData', 'missing'],
  [
    'more than 300 features',
    tsl(Array.from({ length: 301 }, (_, i) => rw(`P${i}`, goodInt))),
    'properties',
    'at most 300 features',
  ],
];

describe('malformed TSL corpus', () => {
  it.each(corpus)('%s → its path', (_what, json, path, fragment) => {
    const problems = problemsOf(json);
    const hit = problems.find((p) => p.path === path);
    expect({ problems, hit: hit !== undefined }).toEqual({ problems, hit: true });
    expect(hit?.message).toContain(fragment);
    expect(hit?.message).toMatch(/expected|missing/);
  });

  it('reports one problem per mistake, all of them', () => {
    const problems = problemsOf(
      tsl([rw('A', int({ min: '10', max: '5', step: '0' })), rw('B', { type: 'enum', specs: {} }), rw('A', { type: 'text', specs: {} })]),
    );
    expect(problems.map((p) => p.path).sort()).toEqual(
      [
        'properties[0].dataType.specs.max',
        'properties[0].dataType.specs.step',
        'properties[1].dataType.specs',
        'properties[2].dataType.specs.length',
        'properties[2].identifier',
      ].sort(),
    );
  });

  it('the broken fixture lists its problems', () => {
    const problems = checkTsl(JSON.parse(readFileSync(join(FIXTURES, 'broken-gateway.json'), 'utf8')));
    expect(problems.length).toBeGreaterThanOrEqual(3);
  });

  it('an unreadable or unparsable file is a TslError too', () => {
    expect(() => loadThingModelFile(join(FIXTURES, 'does-not-exist.json'))).toThrow(TslError);
    expect(() => loadThingModelFile(join(__dirname, 'helpers.ts'))).toThrow(/expected JSON/);
  });
});

describe('real-export quirks are accepted', () => {
  it('the example gateway, with its implicit set/get/post left out', () => {
    const m = loadThingModelFile(EXAMPLE_TSL);
    expect(m.productKey).toBe('a1GwDemo01');
    expect(m.properties).toHaveLength(19);
    expect(m.services.map((s) => s.identifier)).toEqual(['Calibrate', 'ReadChannels', 'Reboot', 'ExportLogs']);
    expect(m.events.map((e) => e.identifier)).toEqual(['HighTemperature', 'SensorFault', 'BootCompleted']);
  });

  it('no profile.version, date specs [], array item without specs, get.inputData as strings, no method fields', () => {
    const m = loadThingModel({
      profile: { productKey: 'a1Quirks01' },
      properties: [
        rw('D', { type: 'date', specs: [] }),
        rw('L', { type: 'array', specs: { size: '4', item: { type: 'int' } } }),
        rw('T', { type: 'array', specs: { size: '4', item: { type: 'text' } } }),
        rw('N', { type: 'float', specs: { min: -1, max: 1, step: 0.5 } }),
      ],
      services: [
        { identifier: 'get', name: 'get', callType: 'async', method: 'thing.service.property.get', inputData: ['D', 'L'], outputData: [] },
        { identifier: 'set', name: 'set', callType: 'async', method: 'thing.service.property.set', inputData: [], outputData: [] },
        { identifier: 'Go', name: 'go', callType: 'async', inputData: [], outputData: [] },
      ],
      events: [{ identifier: 'post', name: 'post', type: 'info', method: 'thing.event.property.post', outputData: [] }],
    });
    expect(m.version).toBeUndefined();
    expect(m.properties[0]?.dataType).toEqual({ type: 'date', specs: {} });
    expect(m.properties[1]?.dataType).toEqual({ type: 'array', specs: { size: '4', item: { type: 'int', specs: {} } } });
    expect(m.properties[2]?.dataType).toEqual({ type: 'array', specs: { size: '4', item: { type: 'text', specs: { length: '10240' } } } });
    expect(m.properties[3]?.dataType).toEqual({ type: 'float', specs: { min: '-1', max: '1', step: '0.5' } });
    expect(m.services.map((s) => [s.identifier, s.method])).toEqual([['Go', 'thing.service.Go']]);
    expect(m.events).toEqual([]);
  });

  it('module-prefixed identifiers and implicit entries of a module', () => {
    const m = loadThingModel(
      tsl([rw('fb1:Power', { type: 'bool', specs: { '0': 'off', '1': 'on' } })], {
        services: [{ identifier: 'fb1:get', name: 'get', callType: 'async', inputData: ['fb1:Power'], outputData: [] }],
        events: [{ identifier: 'fb1:Alarm', name: 'alarm', type: 'alert', method: 'thing.event.fb1:Alarm.post', outputData: [] }],
      }),
    );
    expect(m.properties[0]?.identifier).toBe('fb1:Power');
    expect(m.services).toEqual([]);
    expect(m.events[0]?.method).toBe('thing.event.fb1:Alarm.post');
  });
});
