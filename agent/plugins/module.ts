/**
 * Finding and loading a plugin's module the way Node would from the config file's folder: a package name is
 * looked up in the `node_modules` folders from there upwards (`createRequire(configDir + '/')`), a path is taken
 * relative to that folder. CommonJS is loaded with `require`, ES modules with `import()` (on every Node 20, with
 * top-level await; `require(esm)` needs Node ≥ 20.19 / 22.12 and refuses top-level await). See docs/plugins.md,
 * "Module formats". Every failure is one line naming the config key, the module and what to do.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PluginError } from './errors';
import { findPackageDir, resolveImportExports } from './package-exports';

export type ModuleFormat = 'commonjs' | 'module';

/** What `handlers.N.module` named: its file, how Node reads it, and a label for messages. */
export interface LocatedModule {
  file: string;
  format: ModuleFormat;
}

const TS_EXTENSIONS = new Set(['.ts', '.mts', '.cts']);

/** True when `spec` is a path (relative to the config folder or absolute) rather than a package name. */
export function isPathSpecifier(spec: string): boolean {
  return spec.startsWith('./') || spec.startsWith('../') || spec === '.' || spec === '..' || isAbsolute(spec);
}

/** The file `spec` names, resolved from `configDir`; throws a PLUGIN_LOAD_FAILED error saying where it looked. */
export function locateModule(spec: string, configDir: string, key: string): LocatedModule {
  const req = createRequire(join(configDir, '/'));
  const label = `${key} "${spec}"`;
  let file: string;
  if (isPathSpecifier(spec)) {
    const abs = resolve(configDir, spec);
    file = tryResolve(req, abs, label) ?? packageEntry(abs, '.') ?? typescriptSibling(abs, label) ?? notFound(label, `no file at ${abs} (nor ${abs}.js, ${abs}.json, ${abs}/package.json's entry or ${abs}/index.js)`);
  } else {
    const resolved = tryResolve(req, spec, label);
    if (resolved !== undefined) file = resolved;
    else {
      const { name, subpath } = splitPackageSpecifier(spec);
      const searched = req.resolve.paths(name) ?? [];
      const dir = findPackageDir(name, searched);
      if (dir === undefined) {
        // Before package names were resolved, `plugins/lamp` meant a path: say how to write it now.
        const asPath = tryResolve(req, resolve(configDir, spec), label);
        const hint = asPath !== undefined ? `; ${asPath} exists: write "./${spec}" to load it as a path` : `; install it next to the config file (npm install ${name}) or give a path starting with ./`;
        notFound(label, `no package "${name}" in ${describePaths(searched)}${hint}`);
      }
      file = packageEntry(dir, subpath) ?? notFound(label, `package "${name}" (${dir}) has no entry point for "${subpath}" in its "exports" or "main"`);
    }
  }
  return { file, format: formatOf(file) };
}

/** Loads the located module: `require` for CommonJS, `import()` for ES modules. */
export async function loadModule(m: LocatedModule, spec: string, key: string): Promise<unknown> {
  const label = `${key} "${spec}"`;
  try {
    if (m.format === 'module') return await nativeImport(pathToFileURL(m.file).href);
    return createRequire(m.file)(m.file) as unknown;
  } catch (err) {
    const e = err as Error & { code?: unknown };
    // Tried first, since a loader may be at work that we cannot see (ts-node, a test runner's transform); what Node
    // itself does with TypeScript is fail to parse it or refuse the extension.
    const ext = extname(m.file);
    if (TS_EXTENSIONS.has(ext) && !canLoadTypeScript(ext) && (e?.name === 'SyntaxError' || e?.code === 'ERR_UNKNOWN_FILE_EXTENSION')) {
      throw new PluginError('PLUGIN_LOAD_FAILED', `${label}: ${m.file} is TypeScript, which Node does not load; build it (tsc) and point ${key} at the emitted .js file`);
    }
    if (e?.name === 'SyntaxError') throw new PluginError('PLUGIN_LOAD_FAILED', `${label}: syntax error in ${syntaxLocation(e, m.file)}: ${firstLine(e.message)}`);
    if (e?.code === 'ERR_REQUIRE_ESM') {
      throw new PluginError('PLUGIN_LOAD_FAILED', `${label}: ${m.file} requires an ES module, which this Node (${process.version}) cannot require; make the plugin an ES module or use Node ≥ 20.19`);
    }
    throw new PluginError('PLUGIN_LOAD_FAILED', `${label}: ${m.file} failed to load: ${firstLine(e instanceof Error ? e.message : String(err))}`);
  }
}

// Written as a Function so that TypeScript's CommonJS output keeps a real `import()` instead of turning it into
// `require()`, which would load ES modules only on Node ≥ 20.19 and never with top-level await.
let importer: ((specifier: string) => Promise<unknown>) | undefined;
function nativeImport(specifier: string): Promise<unknown> {
  importer ??= new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;
  return importer(specifier);
}

function tryResolve(req: NodeJS.Require, request: string, label: string): string | undefined {
  try {
    return req.resolve(request);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    // Not exported for `require`: an ESM-only package, resolved with the import conditions instead.
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') return undefined;
    throw new PluginError('PLUGIN_LOAD_FAILED', `${label}: cannot resolve: ${firstLine((err as Error).message)}`);
  }
}

/** A package folder's entry for `subpath` under the import conditions ("exports"), else its "main". */
function packageEntry(dir: string, subpath: string): string | undefined {
  const manifest = join(dir, 'package.json');
  if (!isDirectory(dir) || !existsSync(manifest)) return undefined;
  let pkg: { exports?: unknown; main?: unknown };
  try {
    pkg = JSON.parse(readFileSync(manifest, 'utf8')) as typeof pkg;
  } catch (err) {
    throw new PluginError('PLUGIN_LOAD_FAILED', `${manifest}: not valid JSON: ${firstLine((err as Error).message)}`);
  }
  const target = pkg.exports !== undefined ? resolveImportExports(pkg.exports, subpath) : subpath === '.' && typeof pkg.main === 'string' ? pkg.main : undefined;
  if (target === undefined) return undefined;
  const file = resolve(dir, target);
  return existsSync(file) && !isDirectory(file) ? file : undefined;
}

/** A TypeScript file the path meant without its extension: named in the error, so the user knows to build it. */
function typescriptSibling(abs: string, label: string): undefined {
  for (const ext of TS_EXTENSIONS) {
    if (existsSync(abs + ext)) throw new PluginError('PLUGIN_LOAD_FAILED', `${label}: only ${abs}${ext} exists, which is TypeScript; build it (tsc) and point the module at the emitted .js file`);
  }
  return undefined;
}

function canLoadTypeScript(ext: string): boolean {
  // A loader such as ts-node registers the extension; Node ≥ 22.18 / 23.6 strips types itself.
  const features = process.features as { typescript?: unknown };
  return Boolean(features.typescript) || (ext !== '.mts' && typeof require.extensions?.[ext] === 'function');
}

/** How Node reads `file`: by extension, and for `.js` by the `type` of the nearest package.json. */
export function formatOf(file: string): ModuleFormat {
  const ext = extname(file);
  if (ext === '.mjs' || ext === '.mts') return 'module';
  if (ext !== '.js' && ext !== '.ts') return 'commonjs';
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        return (JSON.parse(readFileSync(manifest, 'utf8')) as { type?: unknown }).type === 'module' ? 'module' : 'commonjs';
      } catch {
        return 'commonjs';
      }
    }
    if (dirname(dir) === dir) return 'commonjs';
  }
}

function splitPackageSpecifier(spec: string): { name: string; subpath: string } {
  const parts = spec.split('/');
  const n = spec.startsWith('@') ? 2 : 1;
  const rest = parts.slice(n).join('/');
  return { name: parts.slice(0, n).join('/'), subpath: rest === '' ? '.' : `./${rest}` };
}

function describePaths(paths: readonly string[]): string {
  // Node's list ends with the global folders (NODE_PATH, ~/.node_modules); the first entry says where it began.
  return paths.length === 0 ? 'no node_modules folder' : `${paths[0]} nor any node_modules folder above it`;
}

function notFound(label: string, why: string): never {
  throw new PluginError('PLUGIN_LOAD_FAILED', `${label}: not found: ${why}`);
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** `file:line` of a syntax error, from the first line of its stack (where V8 puts it), else the file. */
function syntaxLocation(err: Error, file: string): string {
  const head = (err.stack ?? '').split('\n', 1)[0] ?? '';
  const m = /^(?:file:\/\/)?(\/.*?:\d+)$/.exec(head);
  return m?.[1] ?? file;
}

/** The first line of an error message, so that every error stays one line. */
export function firstLine(s: string): string {
  const i = s.indexOf('\n');
  return i < 0 ? s : s.slice(0, i);
}
