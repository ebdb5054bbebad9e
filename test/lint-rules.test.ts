/**
 * The layout rules of eslint.config.mjs bite: each synthetic file below is linted as if it sat at `filePath`, with
 * the repository's own configuration, and a wrong import or an over-long source file is an error naming the rule.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');

/** Every snippet a test below lints, keyed by `path\0code`; linted in one child process (see lint-text.mjs). */
const snippets: { path: string; code: string }[] = [];
let results: Map<string, string[]> | undefined;

/** The rule ids of the errors ESLint reports for `code` at `path` (relative to the repository). */
function errors(path: string, code: string): string[] {
  if (!results) {
    const out = execFileSync(process.execPath, [join(__dirname, 'helpers', 'lint-text.mjs'), ROOT], { input: JSON.stringify(snippets), timeout: 120_000 });
    const lists = JSON.parse(out.toString()) as string[][];
    results = new Map(snippets.map((s, i) => [`${s.path}\0${s.code}`, lists[i] ?? []]));
  }
  const found = results.get(`${path}\0${code}`);
  if (!found) throw new Error(`snippet for ${path} was not registered before linting`);
  return found;
}

/** Registers a snippet (at collection time, so that all are linted in one run) and returns its arguments. */
function snippet(path: string, code: string): [string, string] {
  snippets.push({ path, code });
  return [path, code];
}

const use = (source: string) => `import * as m from '${source}';\nexport const used = m;\n`;

describe('no-restricted-imports per folder', () => {
  it.each([
    ['a plugin importing the agent', 'handlers/builtin/x.ts', '../../agent/router'],
    ['a plugin importing another plugin', 'handlers/examples/x.ts', '../builtin/property-store'],
    ['a plugin importing thing-model directly', 'handlers/builtin/x.ts', '../../thing-model'],
    ['the plugin API importing the agent', 'handlers/api.ts', '../agent/transport'],
    ['the plugin API importing a plugin', 'handlers/api.ts', './builtin/property-store'],
    ['thing-model importing the agent', 'thing-model/x.ts', '../agent'],
    ['thing-model/wire importing the plugin API', 'thing-model/wire/x.ts', '../../handlers/api'],
    ['the simulator importing the plugin API', 'simulator/x.ts', '../handlers/api'],
    ['the simulator importing the agent', 'simulator/mqtt/x.ts', '../../agent/agent'],
    ['the agent importing the simulator', 'agent/router/x.ts', '../../simulator/cloud-simulator'],
    ['the agent importing a built-in plugin outside agent/plugins', 'agent/router/x.ts', '../../handlers/builtin/property-store'],
    ['the agent importing an example plugin', 'agent/plugins/x.ts', '../../handlers/examples/calibration'],
    ['the agent importing native/ past its entry', 'agent/lifecycle/x.ts', '../../native/test/notify-receiver'],
    ['agent source importing test helpers', 'agent/x.ts', '../test/helpers/brokers'],
    ['native/ importing the agent, in a test too', 'native/x.test.ts', '../agent/lifecycle/binding'],
    ['the demo importing bench helpers', 'demo/x.ts', '../bench/stats'],
  ].map(([what, path, source]) => [what, ...snippet(path as string, use(source as string))]))('fails %s', (_what, path, code) => {
    expect(errors(path as string, code as string)).toContain('no-restricted-imports');
  });

  it.each([
    ['a plugin importing the plugin API', 'handlers/builtin/x.ts', '../api'],
    ['the plugin API importing thing-model', 'handlers/api.ts', '../thing-model/wire'],
    ['thing-model importing itself', 'thing-model/wire/x.ts', '../codes'],
    ['the simulator importing thing-model/wire', 'simulator/mqtt/x.ts', '../../thing-model/wire'],
    ['the agent importing the plugin API and thing-model', 'agent/router/x.ts', '../../handlers/api'],
    ['the plugin host loading a built-in plugin', 'agent/plugins/x.ts', '../../handlers/builtin/property-store'],
    ['the agent importing native/ through its entry', 'agent/lifecycle/x.ts', '../../native'],
    ['an agent test importing the shared test helpers', 'agent/health/x.test.ts', '../../test/helpers/brokers'],
    ['a plugin test driving the agent through the test harness', 'handlers/examples/x.test.ts', '../../test/router-harness'],
    ['the demo composing agent and simulator', 'demo/x.ts', '../agent/agent'],
  ].map(([what, path, source]) => [what, ...snippet(path as string, use(source as string))]))('passes %s', (_what, path, code) => {
    expect(errors(path as string, code as string)).toEqual([]);
  });
});

describe('max-lines', () => {
  const lines = (n: number) => Array.from({ length: n }, (_, i) => `export const v${i} = ${i};`).join('\n') + '\n';
  const over = [snippet('agent/x.ts', lines(401)), snippet('simulator/x.ts', lines(401)), snippet('bench/x.ts', lines(401))];
  const within = snippet('agent/y.ts', lines(400));
  const exempt = [snippet('agent/x.test.ts', lines(450)), snippet('test/x.ts', lines(450)), snippet('handlers/examples/x.types.ts', lines(450))];

  it('fails a source file of 401 lines and passes one of 400', () => {
    for (const [path, code] of over) expect(errors(path, code)).toContain('max-lines');
    expect(errors(...within)).toEqual([]);
  });

  it('exempts tests and generated types', () => {
    for (const [path, code] of exempt) expect(errors(path, code)).toEqual([]);
  });
});
