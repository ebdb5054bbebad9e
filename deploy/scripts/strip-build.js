'use strict';
/**
 * Leaves only what runs in an installed tree of node_modules (and native/): each native module keeps its built
 * `.node` files in build/Release and loses the compiler's objects, static libraries, makefiles and C/C++ sources.
 * better-sqlite3 alone leaves about 29 MB of those behind (obj/, obj.target/, sqlite3.a, deps/, src/).
 *
 *   node deploy/scripts/strip-build.js DIR...     DIR: an app root (its node_modules/ and native/ are stripped)
 *
 * Used by deploy/Dockerfile and deploy/debian/build.sh after `npm ci --omit=dev` / `npm prune --omit=dev`.
 */
const fs = require('node:fs');
const path = require('node:path');

/** Build outputs a module needs at run time; test_extension.node is better-sqlite3's test fixture. */
const keep = (name) => name.endsWith('.node') && name !== 'test_extension.node';

/** The folder of the module's entry point (package.json `main`, default index.js). */
function mainDir(dir) {
  let main = 'index.js';
  try {
    main = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).main || main;
  } catch {
    // no manifest: the default
  }
  return path.dirname(path.resolve(dir, main));
}

let saved = 0;
function size(p) {
  const st = fs.lstatSync(p);
  if (!st.isDirectory()) return st.size;
  return fs.readdirSync(p).reduce((n, e) => n + size(path.join(p, e)), 0);
}
function remove(p) {
  saved += size(p);
  fs.rmSync(p, { recursive: true, force: true });
}

/** A native module: a folder with binding.gyp. */
function stripModule(dir) {
  const release = path.join(dir, 'build', 'Release');
  if (!fs.existsSync(release)) return;
  const built = fs.readdirSync(release).filter(keep);
  if (built.length === 0) throw new Error(`${release}: no built .node file; refusing to strip an unbuilt module`);
  const tmp = path.join(dir, '.build-keep');
  fs.mkdirSync(tmp, { recursive: true });
  for (const f of built) fs.renameSync(path.join(release, f), path.join(tmp, f));
  remove(path.join(dir, 'build'));
  fs.mkdirSync(release, { recursive: true });
  for (const f of built) fs.renameSync(path.join(tmp, f), path.join(release, f));
  fs.rmSync(tmp, { recursive: true });
  // C/C++ sources and vendored libraries (better-sqlite3's deps/ holds the SQLite amalgamation and build-time
  // scripts); kept when the module's entry point lives there
  const entry = mainDir(dir);
  for (const sub of ['src', 'deps']) {
    const p = path.join(dir, sub);
    if (fs.existsSync(p) && entry !== p && !entry.startsWith(p + path.sep)) remove(p);
  }
}

function walk(dir) {
  if (!fs.existsSync(dir)) return;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const p = path.join(dir, entry.name);
    if (entry.name.startsWith('@')) walk(p);
    else {
      if (fs.existsSync(path.join(p, 'binding.gyp'))) stripModule(p);
      walk(path.join(p, 'node_modules'));
    }
  }
}

const roots = process.argv.slice(2);
if (roots.length === 0) {
  console.error('usage: node deploy/scripts/strip-build.js DIR...');
  process.exit(2);
}
for (const root of roots) {
  walk(path.join(root, 'node_modules'));
  if (fs.existsSync(path.join(root, 'native', 'binding.gyp'))) stripModule(path.join(root, 'native'));
}
console.log(`strip-build: removed ${(saved / 1048576).toFixed(1)} MB of build objects and sources`);
