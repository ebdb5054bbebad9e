/**
 * The repository stands on its own: no tracked file cites the reference notes the project was started from
 * (they are not part of the repository, so a reader who follows such a citation finds nothing), and no file names
 * a path of the machine it was written on. Protocol facts are cited from docs/protocol/ instead.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '..');
const SKIP_DIRS = new Set(['node_modules', '.git', 'dist', 'build', 'coverage', 'data']);

/** Tracked files when this is a git checkout; otherwise every file outside build output and dependencies. */
function repositoryFiles(): string[] {
  try {
    return execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\0')
      .filter((f) => f !== '');
  } catch {
    const out: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const full = join(dir, name);
        if (statSync(full).isDirectory()) {
          if (!SKIP_DIRS.has(name)) walk(full);
        } else out.push(relative(ROOT, full));
      }
    };
    walk(ROOT);
    return out;
  }
}

const FORBIDDEN: [RegExp, string][] = [
  [/alink-protocol(-more)?\.md/, 'the reference notes outside the repository (cite docs/protocol/<page>.md)'],
  [/\.\.\/shared\b/, 'a folder outside the repository'],
  [/(^|[\s`'"(])shared\/(wire|tsl|seeds)\b/, 'the reference material outside the repository (cite docs/protocol/)'],
  [/\/work\//, 'a path of the machine the code was written on'],
];

describe('the repository stands on its own', () => {
  const self = relative(ROOT, __filename);
  const files = repositoryFiles().filter((f) => f !== self && !/\.(png|jpg|gif|ico|db|node|gz|tgz)$/.test(f));

  it('has files to check', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(files).toContain('docs/protocol/README.md');
  });

  it('cites no file outside it and names no machine path', () => {
    const hits: string[] = [];
    for (const file of files) {
      let text: string;
      try {
        text = readFileSync(join(ROOT, file), 'utf8');
      } catch {
        continue; // listed by git but deleted in the work tree
      }
      text.split('\n').forEach((line, i) => {
        for (const [re, what] of FORBIDDEN) if (re.test(line)) hits.push(`${file}:${i + 1}: ${what}: ${line.trim().slice(0, 120)}`);
      });
    }
    expect(hits).toEqual([]);
  });
});
