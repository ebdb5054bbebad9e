/**
 * The part of Node's package resolution `require.resolve` cannot do for us: an ES-module-only package whose
 * "exports" offer no `require` condition. Its entry is read the way `import` would read it, with the conditions
 * `node`, `import` and `default`, in the order the package lists them (Node's rule). Subpath patterns (`./*`) are
 * not expanded; a plugin's entry is its "." export.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const CONDITIONS = new Set(['node', 'import', 'default']);

/** The folder of package `name` in the first of `searchPaths` (node_modules folders) that holds it. */
export function findPackageDir(name: string, searchPaths: readonly string[]): string | undefined {
  for (const base of searchPaths) {
    const dir = join(base, name);
    if (existsSync(join(dir, 'package.json'))) return dir;
  }
  return undefined;
}

/** The relative target of `subpath` (`.` or `./x`) in a package's "exports" under the import conditions. */
export function resolveImportExports(exports: unknown, subpath: string): string | undefined {
  if (typeof exports === 'string' || Array.isArray(exports)) return subpath === '.' ? target(exports) : undefined;
  if (typeof exports !== 'object' || exports === null) return undefined;
  const keys = Object.keys(exports);
  // Either a map of subpaths ("." and "./x" keys) or, as sugar for ".", a map of conditions.
  if (keys.some((k) => k.startsWith('.'))) return target((exports as Record<string, unknown>)[subpath]);
  return subpath === '.' ? target(exports) : undefined;
}

function target(t: unknown): string | undefined {
  if (typeof t === 'string') return t.startsWith('./') ? t : undefined;
  if (Array.isArray(t)) {
    for (const alt of t) {
      const r = target(alt);
      if (r !== undefined) return r;
    }
    return undefined;
  }
  if (typeof t !== 'object' || t === null) return undefined;
  for (const [condition, value] of Object.entries(t)) {
    if (!CONDITIONS.has(condition)) continue;
    const r = target(value);
    if (r !== undefined) return r;
  }
  return undefined;
}
