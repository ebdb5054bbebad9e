/**
 * The `alink-agent tsl ...` subcommands: `check FILE` (summary or one line per problem) and `types FILE...`
 * (generated TypeScript; several TSLs give one module with a namespace per product, see `types-args.ts`). The CLI
 * main dispatches here; output goes through `io` so tests can capture it.
 */
import { TslError } from './codes';
import { compileThingModel } from './compile';
import { generateProductTypes, generateTypes } from './generate-types';
import { loadThingModelFile } from './load';
import { resolveProducts, TYPES_USAGE, typesArgs } from './types-args';
import type { ThingModel } from './types';

/** Where the command writes; each call is one chunk of text (the command adds the newlines). */
export interface TslCommandIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

const USAGE = `usage: alink-agent tsl check FILE | ${TYPES_USAGE}\n`;

/** Exit statuses: 0 done, 1 a TSL is malformed or unreadable (or two share a product key), 2 usage error. */
export async function runTslCommand(argv: string[], io: TslCommandIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'types') return types(rest, io);
  const [file, ...extra] = rest;
  if (command !== 'check' || file === undefined || file === '' || extra.length > 0) {
    io.stderr(command === undefined || command === 'help' || command === '--help' ? USAGE : `unknown or incomplete command: ${argv.join(' ')}\n${USAGE}`);
    return 2;
  }
  const model = load(file, io);
  if (!model) return 1;
  // Compile too, so that a TSL that passes `check` is known to load in the agent as well.
  compileThingModel(model);
  io.stdout(summary(file, model));
  return 0;
}

/**
 * `types FILE` prints the one model's types as it always did; several files, or any `--product NAME=FILE`, print
 * one module with a namespace per product. Every file is loaded before anything is printed, and every problem of
 * every file is reported.
 */
function types(args: string[], io: TslCommandIo): number {
  const parsed = typesArgs(args);
  if ('usage' in parsed) {
    io.stderr(`${parsed.usage}\n${USAGE}`);
    return 2;
  }
  const models = parsed.products.map((p) => load(p.file, io));
  if (models.some((m) => m === undefined)) return 1;
  const loaded = parsed.products.map((p, i) => ({ ...p, model: models[i] as ThingModel }));
  if (!parsed.namespaced) {
    io.stdout(generateTypes(loaded[0]!.model));
    return 0;
  }
  const resolved = resolveProducts(loaded);
  if ('problems' in resolved) {
    for (const line of resolved.problems) io.stderr(`${line}\n`);
    return 1;
  }
  io.stdout(generateProductTypes(resolved.products));
  return 0;
}

/** Loads one TSL file; on a malformed or unreadable one, reports one line per problem and gives undefined. */
function load(file: string, io: TslCommandIo): ThingModel | undefined {
  try {
    return loadThingModelFile(file);
  } catch (err) {
    if (err instanceof TslError) {
      io.stderr(`${file}: ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}\n`);
      for (const p of err.problems) io.stderr(`${file}: ${p.path}: ${p.message}\n`);
      return undefined;
    }
    throw err;
  }
}

/** The `check` report of a well-formed model. */
export function summary(file: string, model: ThingModel): string {
  const r = model.properties.filter((p) => p.accessMode === 'r').map((p) => p.identifier);
  const rw = model.properties.filter((p) => p.accessMode === 'rw').map((p) => p.identifier);
  const sync = model.services.filter((s) => s.callType === 'sync').map((s) => s.identifier);
  const async = model.services.filter((s) => s.callType === 'async').map((s) => s.identifier);
  const byType = (t: string) => model.events.filter((e) => e.type === t).map((e) => e.identifier);
  const list = (ids: string[]) => (ids.length === 0 ? '-' : ids.join(', '));
  return [
    `${file}: OK, product ${model.productKey}${model.version ? ` (TSL version ${model.version})` : ''}`,
    `properties: ${model.properties.length} (${r.length} r, ${rw.length} rw)`,
    `  r:  ${list(r)}`,
    `  rw: ${list(rw)}`,
    `services: ${model.services.length} (${sync.length} sync, ${async.length} async)`,
    `  sync:  ${list(sync)}`,
    `  async: ${list(async)}`,
    `events: ${model.events.length} (${byType('info').length} info, ${byType('alert').length} alert, ${byType('error').length} error)`,
    `  info:  ${list(byType('info'))}`,
    `  alert: ${list(byType('alert'))}`,
    `  error: ${list(byType('error'))}`,
    '',
  ].join('\n');
}
