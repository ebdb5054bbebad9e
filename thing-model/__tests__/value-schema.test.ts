/**
 * Compiled models skip ajv's meta-schema check for speed (the schemas are generated, not written by users);
 * this test makes up for it by compiling every generated schema with the check on.
 */
import Ajv from 'ajv';
import { loadThingModelFile } from '..';
import { numericRule, isOnStep } from '../numeric';
import type { DataType, ParamDef } from '../types';
import { schemaOptions, tslStepKeyword, valueSchema } from '../value-schema';
import { EXAMPLE_TSL } from './helpers';

function allTypes(): DataType[] {
  const m = loadThingModelFile(EXAMPLE_TSL);
  const params: ParamDef[] = [...m.services.flatMap((s) => [...s.inputData, ...s.outputData]), ...m.events.flatMap((e) => e.outputData)];
  return [...m.properties.map((p) => p.dataType), ...params.map((p) => p.dataType)];
}

describe('generated value schemas', () => {
  it('are valid JSON Schema (draft-07 meta-schema and the tslStep keyword meta-schema)', () => {
    const ajv = new Ajv({ strict: true });
    ajv.addKeyword(tslStepKeyword);
    for (const o of [schemaOptions(undefined), schemaOptions({ enforceStep: false, partialStructs: true })]) {
      for (const dt of allTypes()) {
        const schema = valueSchema(dt, o);
        expect({ dt, valid: ajv.validateSchema(schema), errors: ajv.errors }).toEqual({ dt, valid: true, errors: null });
        expect(() => ajv.compile(schema)).not.toThrow();
      }
    }
  });

  it('the inline step code and isOnStep agree', () => {
    const ajv = new Ajv({ strict: true });
    ajv.addKeyword(tslStepKeyword);
    const cases: [DataType, number[]][] = [
      [{ type: 'double', specs: { min: '0', max: '1', step: '0.1' } }, [0.3, 0.35, 0.1 + 0.2, 1, 0.999]],
      [{ type: 'float', specs: { min: '-40', max: '85', step: '0.1' } }, [Math.fround(21.4), 21.45, -39.9]],
      [{ type: 'int', specs: { min: '5', max: '3600', step: '5' } }, [5, 60, 62, 3600]],
    ];
    for (const [dt, values] of cases) {
      const validate = ajv.compile(valueSchema(dt, schemaOptions(undefined)));
      const r = numericRule(dt as Extract<DataType, { type: 'int' | 'float' | 'double' }>);
      for (const v of values) expect([v, validate(v)]).toEqual([v, isOnStep(v, r.min ?? 0, r.step as number, r.type)]);
    }
  });
});
