/**
 * The storage module on real files: the lock take-over's log line (one value per key), a live holder refused with
 * STORAGE_LOCKED, an unreadable file that cannot be moved aside refused with STORAGE_CORRUPT.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { STORAGE_ERROR_CODES, StorageError, StorageLockedError, openAgentDb } from '.';
import { storageFailure } from './errors';

/** The keys of a JSON object's top level, in order, duplicates kept (JSON.parse keeps only the last). */
function topLevelKeys(json: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < json.length; i++) {
    const ch = json[i];
    if (ch === '"') {
      let j = i + 1;
      while (json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      const str = json.slice(i + 1, j);
      let k = j + 1;
      while (json[k] === ' ') k++;
      if (depth === 1 && json[k] === ':') keys.push(str);
      i = j;
    } else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
  }
  return keys;
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'storage-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function capture(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  // The root logger's base fields carry this process's pid, as the agent's do.
  return { lines, logger: pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }) };
}

test('topLevelKeys sees a duplicate key that JSON.parse hides', () => {
  const line = '{"pid":1,"a":{"pid":2},"b":"x\\"pid\\":","pid":3}';
  expect(topLevelKeys(line)).toEqual(['pid', 'a', 'b', 'pid']);
  expect(JSON.parse(line).pid).toBe(3);
});

test("taking over a dead process's lock logs one line with each key once, naming the holder's pid", async () => {
  const file = join(dir, 'agent.db');
  const dead = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => dead.once('exit', resolve));
  writeFileSync(`${file}.lock`, `${dead.pid as number} 1\n`);
  const { logger, lines } = capture();
  openAgentDb({ file, logger: logger.child({ component: 'agent-db' }) }).close();
  const line = lines.find((l) => l.includes('taking over the lock'));
  expect(line).toBeDefined();
  const keys = topLevelKeys(line as string);
  expect(keys.length).toBe(new Set(keys).size);
  expect(JSON.parse(line as string)).toMatchObject({ pid: process.pid, holderPid: dead.pid, lockFile: `${file}.lock`, component: 'agent-db' });
});

test('a live holder is refused with STORAGE_LOCKED naming the folder and the pid', () => {
  const file = join(dir, 'agent.db');
  const held = openAgentDb({ file });
  try {
    let err: unknown;
    try {
      openAgentDb({ file });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StorageLockedError);
    expect(err).toMatchObject({ code: 'STORAGE_LOCKED', pid: process.pid, dataDir: dir });
  } finally {
    held.close();
  }
});

test('an unreadable file that cannot be moved aside is refused with STORAGE_CORRUPT, naming the file', () => {
  const file = join(dir, 'agent.db');
  writeFileSync(file, 'not a database at all, just text long enough to be read as a header '.repeat(20));
  const at = new Date(0);
  // Something already sits where the file would be moved: the rename fails.
  mkdirSync(`${file}.corrupt-${at.toISOString()}`);
  let err: unknown;
  try {
    openAgentDb({ file, now: () => at });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(StorageError);
  expect(err).toMatchObject({ code: 'STORAGE_CORRUPT' });
  expect((err as Error).message).toMatch(new RegExp(`^database file ${file} is unreadable \\(SQLITE_NOTADB: .*\\) and could not be moved aside: `));
  // Nothing stays locked after the refusal.
  expect(existsSync(`${file}.lock`)).toBe(false);
});

test('SQLITE_FULL is STORAGE_DISK_FULL, other failures STORAGE_FAILED, each with its SQLite code', () => {
  const full = storageFailure('opening x', Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }));
  expect(full).toMatchObject({ code: 'STORAGE_DISK_FULL', sqliteCode: 'SQLITE_FULL', message: 'disk full (SQLITE_FULL) while opening x' });
  const other = storageFailure('opening x', Object.assign(new Error('unable to open database file'), { code: 'SQLITE_CANTOPEN' }));
  expect(other).toMatchObject({ code: 'STORAGE_FAILED', message: 'storage failed while opening x: SQLITE_CANTOPEN: unable to open database file' });
  expect(Object.keys(STORAGE_ERROR_CODES)).toEqual(expect.arrayContaining([full.code, other.code, 'STORAGE_LOCKED', 'STORAGE_CORRUPT']));
});
