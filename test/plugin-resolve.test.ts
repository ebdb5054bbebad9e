/**
 * Finding and loading plugin modules as the built agent does, in a plain Node child process: package names
 * resolved from the config file's folder (and the folders above it, not the agent's own node_modules), paths,
 * CommonJS, ES modules (ESM-only "exports", top-level await), and the one-line errors for a missing module, a
 * module that is not a plugin, a syntax error and a TypeScript file.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const REPO = join(__dirname, '..');
let root: string;
let cfg: string;

function write(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}

const echo = (label: string) => `services: { Echo: () => ({ from: ${JSON.stringify(label)} }) }`;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'plugin-resolve-'));
  cfg = join(root, 'etc', 'agent');
  // A CommonJS package above the config folder: found by walking up, as Node does.
  write(join(root, 'node_modules', 'cjs-plugin', 'package.json'), JSON.stringify({ name: 'cjs-plugin', version: '1.0.0', main: 'lib/main.js' }));
  write(join(root, 'node_modules', 'cjs-plugin', 'lib', 'main.js'), `'use strict';\nexports.plugin = { name: 'cjs-pkg', setup: () => ({ ${echo('cjs-pkg')} }) };\n`);
  // An ESM-only scoped package: its "exports" offer no require condition, and it awaits at the top level.
  const esm = join(cfg, 'node_modules', '@acme', 'esm-plugin');
  write(join(esm, 'package.json'), JSON.stringify({ name: '@acme/esm-plugin', version: '1.0.0', type: 'module', exports: { '.': { import: './src/index.js' } } }));
  write(join(esm, 'src', 'index.js'), `const label = await Promise.resolve('esm-pkg');\nexport default { name: label, setup: () => ({ ${echo('esm-pkg')} }) };\n`);
  // A dual package's require entry, and a package that exports no plugin.
  const dual = join(cfg, 'node_modules', 'dual-plugin');
  write(join(dual, 'package.json'), JSON.stringify({ name: 'dual-plugin', version: '1.0.0', exports: { '.': { import: './index.mjs', require: './index.cjs' } } }));
  write(join(dual, 'index.cjs'), `module.exports = { name: 'dual-cjs', setup: () => ({}) };\n`);
  write(join(dual, 'index.mjs'), `export default { name: 'dual-esm', setup: () => ({}) };\n`);
  write(join(cfg, 'node_modules', 'not-a-plugin', 'package.json'), JSON.stringify({ name: 'not-a-plugin', version: '1.0.0' }));
  write(join(cfg, 'node_modules', 'not-a-plugin', 'index.js'), `module.exports = { hello: 1, setup: () => ({}) };\n`);
  // Paths next to the config file.
  write(join(cfg, 'plugins', 'local.mjs'), `export const plugin = { name: 'local-esm', setup: () => ({ ${echo('local-esm')} }) };\n`);
  write(join(cfg, 'plugins', 'local.cjs'), `module.exports = { name: 'local-cjs', setup: () => ({}) };\n`);
  write(join(cfg, 'plugins', 'ts-output.js'), `"use strict";\nObject.defineProperty(exports, "__esModule", { value: true });\nexports.default = { name: 'ts-output', setup: () => ({}) };\n`);
  write(join(cfg, 'plugins', 'broken.js'), `module.exports = {\n  name: 'broken',\n  setup: () => ({ services: { Echo: () => ) } }),\n};\n`);
  write(join(cfg, 'plugins', 'source.ts'), `const name: string = 'ts';\nexport default { name, setup: () => ({}) };\n`);
  write(join(cfg, 'plugins', 'needs-dep.js'), `require('serialport');\n`);
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

type Outcome = { spec: string; name?: string; answer?: unknown; code?: string; message?: string };

function resolveAll(specs: string[]): Outcome[] {
  const r = spawnSync(process.execPath, ['-r', join(REPO, 'test', 'helpers', 'ts-register.js'), join(REPO, 'test', 'fixtures', 'resolve-child.ts'), cfg, ...specs], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`resolve-child exited ${r.status}: ${r.stderr}`);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Outcome);
}

describe('plugin module resolution (plain Node)', () => {
  let out: Map<string, Outcome>;
  const specs = [
    'cjs-plugin',
    '@acme/esm-plugin',
    'dual-plugin',
    './plugins/local.mjs',
    './plugins/local.cjs',
    'plugins/ts-output.js',
    './plugins/ts-output',
    'not-a-plugin',
    'no-such-package',
    'ajv',
    './plugins/missing.js',
    './plugins/broken.js',
    './plugins/source.ts',
    './plugins/source',
    './plugins/needs-dep.js',
  ];
  beforeAll(() => {
    out = new Map(resolveAll(specs).map((o) => [o.spec, o]));
  });
  const at = (spec: string) => `handlers.${specs.indexOf(spec)}.module "${spec}"`;

  it('loads a CommonJS package found above the config folder, and an ESM-only package with top-level await', () => {
    expect(out.get('cjs-plugin')).toEqual({ spec: 'cjs-plugin', name: 'cjs-pkg', answer: { from: 'cjs-pkg' } });
    expect(out.get('@acme/esm-plugin')).toEqual({ spec: '@acme/esm-plugin', name: 'esm-pkg', answer: { from: 'esm-pkg' } });
    // A dual package loads through its require entry, as require() would pick it.
    expect(out.get('dual-plugin')?.name).toBe('dual-cjs');
  });

  it('loads paths relative to the config folder: .mjs, .cjs, and TypeScript output with or without extension', () => {
    expect(out.get('./plugins/local.mjs')).toMatchObject({ name: 'local-esm', answer: { from: 'local-esm' } });
    expect(out.get('./plugins/local.cjs')?.name).toBe('local-cjs');
    expect(out.get('./plugins/ts-output')?.name).toBe('ts-output');
  });

  it('takes a bare name as a package, never as a file next to the config', () => {
    expect(out.get('plugins/ts-output.js')).toMatchObject({ code: 'PLUGIN_LOAD_FAILED' });
    expect(out.get('plugins/ts-output.js')?.message).toBe(
      `${at('plugins/ts-output.js')}: not found: no package "plugins" in ${join(cfg, 'node_modules')} nor any node_modules folder above it; ${join(cfg, 'plugins', 'ts-output.js')} exists: write "./plugins/ts-output.js" to load it as a path`,
    );
  });

  it('says where it looked for a missing package, and does not use the agent\'s own node_modules', () => {
    const missing = out.get('no-such-package');
    expect(missing?.code).toBe('PLUGIN_LOAD_FAILED');
    expect(missing?.message).toBe(
      `${at('no-such-package')}: not found: no package "no-such-package" in ${join(cfg, 'node_modules')} nor any node_modules folder above it; install it next to the config file (npm install no-such-package) or give a path starting with ./`,
    );
    // ajv is in the agent's node_modules, not in the config folder's: not found from there.
    expect(out.get('ajv')?.message).toMatch(/^handlers\.9\.module "ajv": not found: no package "ajv" in /);
  });

  it('gives one-line errors for a missing file, a module that is no plugin, a syntax error, TypeScript and a failing require', () => {
    expect(out.get('./plugins/missing.js')?.message).toBe(`${at('./plugins/missing.js')}: not found: no file at ${join(cfg, 'plugins', 'missing.js')} (nor ${join(cfg, 'plugins', 'missing.js')}.js, ${join(cfg, 'plugins', 'missing.js')}.json, ${join(cfg, 'plugins', 'missing.js')}/package.json's entry or ${join(cfg, 'plugins', 'missing.js')}/index.js)`);
    expect(out.get('not-a-plugin')).toMatchObject({ code: 'PLUGIN_CONFIG_INVALID' });
    expect(out.get('not-a-plugin')?.message).toBe(
      `${at('not-a-plugin')}: ${join(cfg, 'node_modules', 'not-a-plugin', 'index.js')} exports no plugin (expected a default export or an export named "plugin": an object with "name" (a string) and "setup" (a function), as definePlugin() returns; it exports "hello", "setup")`,
    );
    expect(out.get('./plugins/broken.js')).toMatchObject({ code: 'PLUGIN_LOAD_FAILED', message: `${at('./plugins/broken.js')}: syntax error in ${join(cfg, 'plugins', 'broken.js')}:3: Unexpected token ')'` });
    expect(out.get('./plugins/source.ts')?.message).toBe(`${at('./plugins/source.ts')}: ${join(cfg, 'plugins', 'source.ts')} is TypeScript, which Node does not load; build it (tsc) and point ${'handlers.12.module'} at the emitted .js file`);
    expect(out.get('./plugins/source')?.message).toBe(`${at('./plugins/source')}: only ${join(cfg, 'plugins', 'source')}.ts exists, which is TypeScript; build it (tsc) and point the module at the emitted .js file`);
    expect(out.get('./plugins/needs-dep.js')?.message).toMatch(/^handlers\.14\.module "\.\/plugins\/needs-dep\.js": .*needs-dep\.js failed to load: Cannot find module 'serialport'$/);
    for (const o of out.values()) expect(o.message ?? '').not.toContain('\n');
  });
});
