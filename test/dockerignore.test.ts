/**
 * The container builds from the sources alone: whatever git ignores (built for the host's CPU, Node or libc, or
 * left by a test run) must be kept out of the build context too, or an image built from a working tree differs
 * from one built from a clean clone (test/deploy/container.deploy.ts compares their ids).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');

function patterns(file: string): string[] {
  return readFileSync(join(ROOT, file), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('!'));
}

/** `.gitignore` and `.dockerignore` spell folders differently (`dist/` vs `dist`, `/data/` vs `data`). */
function normal(p: string): string {
  return p.replace(/^\//, '').replace(/\/$/, '').replace(/^\*\*\//, '');
}

test('.dockerignore keeps out everything .gitignore ignores', () => {
  const docker = new Set(patterns('.dockerignore').map(normal));
  const covered = (p: string) => docker.has(p) || [...docker].some((d) => p.startsWith(d + '/'));
  const missing = patterns('.gitignore')
    .map(normal)
    .filter((p) => !covered(p));
  expect(missing).toEqual([]);
});
