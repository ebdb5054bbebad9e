/**
 * Builds the outbox and a fixture into plain JavaScript for child processes (the crash tests run them with plain
 * `node`, so each restart costs no TypeScript compile). Modules resolve from the repository's node_modules through
 * NODE_PATH.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';

/** The repository root (this file lives in agent/outbox/__fixtures__). */
export const REPO_ROOT = join(__dirname, '..', '..', '..');

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Transpiles agent/transport.ts, agent/storage/**, agent/outbox/** and agent/inbox/** into `outDir`, keeping the layout. */
export function compileOutboxForChild(outDir: string): { env: NodeJS.ProcessEnv; path(rel: string): string } {
  const files = [join(REPO_ROOT, 'agent', 'transport.ts'), ...['storage', 'outbox', 'inbox'].flatMap((d) => tsFiles(join(REPO_ROOT, 'agent', d)))];
  for (const file of files) {
    const out = ts.transpileModule(readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    });
    const dest = join(outDir, relative(REPO_ROOT, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, out.outputText);
  }
  return {
    env: { ...process.env, NODE_PATH: join(REPO_ROOT, 'node_modules') },
    path: (rel) => join(outDir, rel).replace(/\.ts$/, '.js'),
  };
}
