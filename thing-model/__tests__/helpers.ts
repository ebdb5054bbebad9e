/** Shared fixtures of the thing-model tests. */
import { join } from 'node:path';
import ts from 'typescript';
import { loadThingModel } from '../load';
import type { ThingModel } from '../types';

export const FIXTURES = join(__dirname, '..', 'fixtures');
export const EXAMPLE_TSL = join(FIXTURES, 'example-gateway.json');

/** A one-module TSL export around the given properties (raw export JSON, specs as strings). */
export function tsl(properties: object[], extra: { services?: object[]; events?: object[] } = {}): Record<string, unknown> {
  return { schema: 'https://iotx-tsl.oss-ap-southeast-1.aliyuncs.com/schema.json', profile: { productKey: 'a1Test0001' }, properties, services: extra.services ?? [], events: extra.events ?? [] };
}

/** A read-write property of the given raw data type. */
export function rw(identifier: string, dataType: object): object {
  return { identifier, name: identifier, accessMode: 'rw', required: false, dataType };
}

/** A loaded model holding one read-write property `X` of `dataType`. */
export function single(dataType: object): ThingModel {
  return loadThingModel(tsl([rw('X', dataType)]));
}

/** Type-checks in-memory files; returns the diagnostics as text. */
export function typeCheck(files: Record<string, string>): string[] {
  // es5's lib holds all the generated code needs (Array, Record, Partial) and loads in a fraction of the time.
  const options: ts.CompilerOptions = { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, lib: ['lib.es5.d.ts'], types: [], skipLibCheck: true };
  const host = ts.createCompilerHost(options);
  const original = { getSourceFile: host.getSourceFile, fileExists: host.fileExists, readFile: host.readFile };
  const virtual = (name: string) => Object.keys(files).find((f) => name.endsWith(`/${f}`) || name === f);
  host.getSourceFile = (name, lang, ...rest) => {
    const v = virtual(name);
    return v ? ts.createSourceFile(name, files[v] as string, lang) : original.getSourceFile(name, lang, ...rest);
  };
  host.fileExists = (name) => virtual(name) !== undefined || original.fileExists(name);
  host.readFile = (name) => {
    const v = virtual(name);
    return v ? files[v] : original.readFile(name);
  };
  const program = ts.createProgram(Object.keys(files), options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}
