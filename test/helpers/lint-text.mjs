// Lints synthetic snippets with the repository's ESLint configuration, outside jest (whose VM cannot load the
// ES-module config): reads [{ path, code }] as JSON on stdin, writes one list of error rule ids per snippet.
import { join } from 'node:path';
import process from 'node:process';
import { ESLint } from 'eslint';

const root = process.argv[2];
const eslint = new ESLint({ cwd: root, overrideConfigFile: join(root, 'eslint.config.mjs') });
let input = '';
for await (const chunk of process.stdin) input += chunk;
const out = [];
for (const { path, code } of JSON.parse(input)) {
  const [result] = await eslint.lintText(code, { filePath: join(root, path) });
  out.push((result?.messages ?? []).filter((m) => m.severity === 2).map((m) => m.ruleId ?? m.message));
}
process.stdout.write(JSON.stringify(out));
