/**
 * test/helpers/ts-register.js, the hook child-process tests run TypeScript fixtures with (it lives in
 * test/helpers; its test sits here, beside its first user).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REGISTER = join(__dirname, '..', '..', 'test', 'helpers', 'ts-register.js');

function run(file: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['-r', REGISTER, file], { timeout: 20_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

describe('ts-register', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'alink-tsreg-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs TypeScript that imports TypeScript, with stack traces on .ts lines', async () => {
    writeFileSync(join(dir, 'lib.ts'), 'export interface P { n: number }\nexport const twice = (p: P): number => p.n * 2;\n');
    writeFileSync(
      join(dir, 'main.ts'),
      "import { twice, type P } from './lib';\nconst p: P = { n: 21 };\nconsole.log(twice(p));\n\n\nfunction fail(): never {\n  throw new Error('boom');\n}\nif (process.argv.includes('x')) fail();\nconsole.log(new Error('here').stack?.split('\\n')[1]?.trim());\n",
    );
    const first = await run(join(dir, 'main.ts'));
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout.split('\n')[0]).toBe('42');
    expect(first.stdout.split('\n')[1]).toContain(`${join(dir, 'main.ts')}:10:`);
    // the second run reads the cache; same output
    expect(await run(join(dir, 'main.ts'))).toEqual(first);
  });

  it('stops on a syntax error, naming the file, line and column', async () => {
    writeFileSync(join(dir, 'bad.ts'), 'const ok = 1;\nconst x: number = ;\n');
    const r = await run(join(dir, 'bad.ts'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`ts-register: cannot transpile ${join(dir, 'bad.ts')}`);
    expect(r.stderr).toContain(`${join(dir, 'bad.ts')}:2:19: Expression expected.`);
  });
});
