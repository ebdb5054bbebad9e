import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/*
 * Layout rules: which folder may import which (README "Layout"; the issue-11 dependency rules). Each rule is a
 * regex on the import source of a relative import, built per folder depth so that "climbs exactly k levels"
 * names the exact folder reached: from `agent/router/x.ts`, `../../handlers/api` reaches the repository root
 * and then `handlers/api`. `test/lint-rules.test.ts` proves each rule fails a wrong import.
 */

/** Test code: may also import the shared test helpers (test/) and the notify receiver the addon's test owns. */
const TEST_FILES = ['**/*.test.ts', '**/__tests__/**', '**/__fixtures__/**', 'simulator/test/**'];

/** An import that climbs exactly `up` levels and then names none of `allowed` (regex fragments). */
function leaves(up, allowed) {
  const climb = `^(\\.\\./){${up}}(?!\\.\\./)`;
  return allowed.length === 0 ? climb : `${climb}(?!(${allowed.join('|')})(/|\\.|$))`;
}

/**
 * Flat-config entries for the files under `base` (at every depth up to 4 below it). `outside` maps an ancestor
 * of `base` (by its depth: 0 = the repository root, 1 = e.g. `handlers/`) to what may be named from there; an
 * ancestor not listed allows anything. Test files get `testOutside` instead when given (else the same rules).
 */
function layer(base, message, outside, testOutside = outside, extra = []) {
  const n = base.split('/').length;
  const entries = [];
  for (let j = 0; j < 4; j++) {
    const glob = `${base}/${'*/'.repeat(j)}*.ts`;
    const patterns = (table) => [
      ...Object.entries(table).map(([m, allowed]) => ({ regex: leaves(n + j - Number(m), allowed), message })),
      ...extra.map((regex) => ({ regex, message })),
    ];
    entries.push({ files: [glob], ignores: TEST_FILES, rules: { 'no-restricted-imports': ['error', { patterns: patterns(outside) }] } });
    entries.push({ files: TEST_FILES.map((t) => [glob, t]), rules: { 'no-restricted-imports': ['error', { patterns: patterns(testOutside) }] } });
  }
  return entries;
}

const NATIVE_ENTRY = 'native(/index(\\.js)?)?$';
const AGENT_ROOT = ['thing-model', 'handlers/api', NATIVE_ENTRY];
/** Agent tests drive the real path: they may also use the simulator, plugins and the shared test helpers. */
const AGENT_TEST_ROOT = [...AGENT_ROOT, 'handlers', 'simulator', 'test', 'native/test'];
const PLUGIN_MESSAGE = 'plugins (handlers/builtin, handlers/examples) import only the plugin API (handlers/api).';
const API_MESSAGE = 'the plugin API (handlers/api) imports only thing-model/.';

const layoutRules = [
  ...layer('thing-model', 'thing-model/ imports nothing of ours (it is the innermost layer).', { 0: [] }),
  // The plugin API is handlers/api/ (the old single-file handlers/api.ts is covered too); it must not reach the plugins either.
  {
    files: ['handlers/api.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ regex: leaves(1, ['thing-model']), message: API_MESSAGE }, { regex: '^\\./', message: API_MESSAGE }] }] },
  },
  ...layer('handlers/api', API_MESSAGE, { 0: ['thing-model'], 1: ['api'] }),
  ...layer('handlers/builtin', PLUGIN_MESSAGE, { 0: [], 1: ['api'] }, { 0: ['test'], 1: ['api'] }),
  ...layer('handlers/examples', PLUGIN_MESSAGE, { 0: [], 1: ['api'] }, { 0: ['test'], 1: ['api'] }),
  ...layer(
    'agent',
    'agent/ may import thing-model/, the plugin API (handlers/api) and native/ through its entry (native/index); never simulator/, demo/, test/, bench/, or plugins other than through agent/plugins/.',
    { 0: AGENT_ROOT },
    { 0: AGENT_TEST_ROOT },
  ),
  // Only the plugin host loads the built-in plugins (later entries override the agent/ ones for these files).
  ...layer('agent/plugins', 'agent/plugins/ may also load the built-in plugins (handlers/builtin).', { 0: [...AGENT_ROOT, 'handlers/builtin'] }, { 0: [...AGENT_TEST_ROOT, 'handlers/builtin'] }),
  ...layer('simulator', 'simulator/ imports only thing-model/ (incl. thing-model/wire): never agent/ or handlers/.', { 0: ['thing-model'] }, { 0: ['thing-model', 'test'] }),
  ...layer('native', 'native/ is its own package: it imports nothing outside native/, its tests included.', { 0: [] }),
  // demo/ composes everything, but like every other folder does not import test/ or bench/ from its source.
  ...layer('demo', 'only tests and benches import test/ or bench/.', { 0: ['thing-model', 'handlers', 'agent', 'simulator', NATIVE_ENTRY] }, { 0: ['thing-model', 'handlers', 'agent', 'simulator', NATIVE_ENTRY, 'test'] }),
];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'native/build/', 'native/node_modules/', 'coverage/', '.ci/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', process: 'readonly', __dirname: 'readonly', console: 'readonly', Buffer: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  ...layoutRules,
  {
    // Small modules: raw lines, blank lines and comments included. Tests and generated types are exempt.
    files: ['**/*.ts', '**/*.js', '**/*.mjs', '**/*.cjs'],
    ignores: [...TEST_FILES, 'test/**', '**/*.types.ts'],
    rules: { 'max-lines': ['error', { max: 400, skipBlankLines: false, skipComments: false }] },
  },
);
