/**
 * The `alink-agent tsl ...` subcommands: `check FILE` (summary or one line per problem) and `types FILE`
 * (generated TypeScript). The CLI main dispatches here; output goes through `io` so tests can capture it.
 */
import { TslError } from './codes';
import { compileThingModel } from './compile';
import { generateTypes } from './generate-types';
import { loadThingModelFile } from './load';
import type { ThingModel } from './types';

/** Where the command writes; each call is one chunk of text (the command adds the newlines). */
export interface TslCommandIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

const USAGE = 'usage: alink-agent tsl check FILE | alink-agent tsl types FILE\n';

/** Exit statuses: 0 done, 1 the TSL is malformed or unreadable, 2 usage error. */
export async function runTslCommand(argv: string[], io: TslCommandIo): Promise<number> {
  const [command, file, ...rest] = argv;
  if ((command !== 'check' && command !== 'types') || file === undefined || file === '' || rest.length > 0) {
    io.stderr(command === undefined || command === 'help' || command === '--help' ? USAGE : `unknown or incomplete command: ${argv.join(' ')}\n${USAGE}`);
    return 2;
  }
  let model: ThingModel;
  try {
    model = loadThingModelFile(file);
  } catch (err) {
    if (err instanceof TslError) {
      io.stderr(`${file}: ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}\n`);
      for (const p of err.problems) io.stderr(`${file}: ${p.path}: ${p.message}\n`);
      return 1;
    }
    throw err;
  }
  if (command === 'types') {
    io.stdout(generateTypes(model));
  } else {
    // Compile too, so that a TSL that passes `check` is known to load in the agent as well.
    compileThingModel(model);
    io.stdout(summary(file, model));
  }
  return 0;
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
