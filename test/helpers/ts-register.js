'use strict';
/**
 * Runs TypeScript in a child process without a build step:
 *
 *   node -r ./test/helpers/ts-register.js agent/lifecycle/__fixtures__/systemd-child.ts
 *   spawn(process.execPath, ['-r', require.resolve('../test/helpers/ts-register.js'), fixture])
 *
 * Each `.ts` file is transpiled on first require with the compiler options of the repo's tsconfig.json (module
 * forced to CommonJS), file by file like ts-jest with diagnostics off: type errors are tsc's business, syntax
 * errors stop the require with the file and line. Source maps are inline, so stack traces name .ts lines.
 *
 * Output is cached in node_modules/.cache/ts-register, keyed by the source, its path, tsconfig.json and the
 * TypeScript version: a child that finds all its files there never loads the compiler (half a second saved per
 * spawn, which adds up in kill -9 loops). Registering twice is harmless.
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const TSCONFIG = path.join(ROOT, 'tsconfig.json');
const CACHE_DIR = path.join(ROOT, 'node_modules', '.cache', 'ts-register');
/** Bump when the transpile settings below change, so old cache entries are not used. */
const FORMAT = '1';

let compiler;

/** TypeScript and the options, loaded on the first cache miss only. */
function loadCompiler() {
  if (compiler) return compiler;
  const ts = require('typescript');
  const read = ts.readConfigFile(TSCONFIG, ts.sys.readFile);
  if (read.error) throw new Error(`ts-register: ${TSCONFIG}: ${ts.flattenDiagnosticMessageText(read.error.messageText, '\n')}`);
  const converted = ts.convertCompilerOptionsFromJson(read.config.compilerOptions || {}, ROOT);
  if (converted.errors.length > 0) {
    throw new Error(`ts-register: ${TSCONFIG}: ${ts.flattenDiagnosticMessageText(converted.errors[0].messageText, '\n')}`);
  }
  // outDir/rootDir would make the inline map's source paths relative to dist/, so stack traces would miss the file
  const { outDir: _outDir, rootDir: _rootDir, sourceRoot: _sourceRoot, mapRoot: _mapRoot, ...options } = converted.options;
  compiler = {
    ts,
    options: { ...options, module: ts.ModuleKind.CommonJS, sourceMap: false, inlineSourceMap: true, inlineSources: true, declaration: false, noEmit: false },
  };
  return compiler;
}

function describe(ts, diagnostic) {
  const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
  if (!diagnostic.file || diagnostic.start === undefined) return text;
  const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
  return `${diagnostic.file.fileName}:${line + 1}:${character + 1}: ${text}`;
}

function transpile(source, filename) {
  const { ts, options } = loadCompiler();
  const out = ts.transpileModule(source, { compilerOptions: options, fileName: filename, reportDiagnostics: true });
  const errors = (out.diagnostics || []).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length > 0) {
    const err = new SyntaxError(`ts-register: cannot transpile ${filename}\n${errors.map((d) => describe(ts, d)).join('\n')}`);
    err.code = 'ERR_TS_TRANSPILE';
    throw err;
  }
  return out.outputText;
}

function register() {
  if (require.extensions['.ts']) return;
  const salt = [FORMAT, fs.readFileSync(TSCONFIG, 'utf8'), require('typescript/package.json').version].join('\0');
  require.extensions['.ts'] = function compileTs(module, filename) {
    const source = fs.readFileSync(filename, 'utf8');
    const key = crypto.createHash('sha256').update(salt).update('\0').update(filename).update('\0').update(source).digest('hex');
    const cached = path.join(CACHE_DIR, `${key}.js`);
    let code;
    try {
      code = fs.readFileSync(cached, 'utf8');
    } catch {
      code = transpile(source, filename);
      try {
        // write-then-rename: children started together never read a half-written entry
        fs.mkdirSync(CACHE_DIR, { recursive: true });
        const tmp = `${cached}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, code);
        fs.renameSync(tmp, cached);
      } catch {
        // the cache is an optimisation; a read-only checkout still runs
      }
    }
    module._compile(code, filename);
  };
  process.setSourceMapsEnabled(true);
}

register();
