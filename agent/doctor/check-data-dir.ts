/**
 * Check 3: the data directory. Its access is tested by doing, not by reading mode bits: a probe file is created,
 * synced and removed (mode bits miss read-only mounts, ACLs, a full disk). What the doctor creates it removes, a
 * missing directory included: a directory left behind owned by whoever ran the doctor (often root) would lock
 * the service user out of its own state directory.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readSync, rmdirSync, statfsSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { AGENT_DB_FILE } from '../config/schema';
import { errnoCode, fail, ok, warn, type Finding } from './report';

/** Below this much free space the outbox may soon refuse messages with a full disk. */
export const LOW_SPACE_BYTES = 10 * 1024 * 1024;

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

export interface DataDirOptions {
  /** Free space below which the check warns; default {@link LOW_SPACE_BYTES}. */
  lowSpaceBytes?: number;
}

function whoAmI(): string {
  const uid = process.getuid?.();
  try {
    return `${userInfo().username} (uid ${uid})`;
  } catch {
    // A uid without a passwd entry (containers) has no name.
    return `uid ${uid}`;
  }
}

function kindOf(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isSocket()) return 'a socket';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a directory';
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${Math.round(n / 1024)} KiB`;
}

/**
 * Creates `dir` and its missing parents one level at a time; returns the first folder created. Not
 * `mkdirSync(dir, { recursive: true })`: Node 20's loops forever where a parent exists but refuses children with
 * ENOENT (a path inside /proc), which would hang the doctor on exactly the misconfiguration it is meant to report.
 */
function makeDirs(dir: string): string {
  const missing: string[] = [];
  for (let p = dir; !existsSync(p); p = dirname(p)) {
    missing.unshift(p);
    if (dirname(p) === p) break;
  }
  const made: string[] = [];
  try {
    for (const p of missing) {
      mkdirSync(p);
      made.push(p);
    }
  } catch (e) {
    // Half a chain is still something the doctor made: it goes too.
    for (const p of made.reverse()) rmdirSync(p);
    throw e;
  }
  return missing[0] ?? dir;
}

/** Removes the directories {@link makeDirs} created, deepest first, up to `first`. */
function removeCreated(dir: string, first: string): void {
  for (let p = dir; ; p = dirname(p)) {
    try {
      rmdirSync(p);
    } catch {
      return;
    }
    if (p === first || dirname(p) === p) return;
  }
}

/** Creates, syncs and removes a file in `dir`; the errno code when that fails. */
function probeWrite(dir: string): string | undefined {
  const probe = join(dir, `.alink-doctor-${process.pid}-${randomBytes(4).toString('hex')}`);
  let fd: number | undefined;
  try {
    fd = openSync(probe, 'wx', 0o600);
    writeSync(fd, 'alink-agent doctor write probe\n');
    fsyncSync(fd);
    return undefined;
  } catch (e) {
    return errnoCode(e);
  } finally {
    if (fd !== undefined) {
      closeSync(fd);
      try {
        unlinkSync(probe);
      } catch {
        // Nothing was created when open failed.
      }
    }
  }
}

/** The outbox database, when there is one: every file of it opens for reading and writing. */
function checkDatabase(dir: string, user: string): Finding | string {
  const file = join(dir, AGENT_DB_FILE);
  let st: Stats;
  try {
    st = lstatSync(file);
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return `no ${AGENT_DB_FILE} yet`;
    return fail('data dir', `${file}: cannot be examined (${errnoCode(e)})`);
  }
  if (!st.isFile()) return fail('data dir', `${file}: expected the outbox's SQLite file, received ${kindOf(st)}`);
  let header = Buffer.alloc(0);
  for (const suffix of ['', '-wal', '-shm']) {
    let fd: number;
    try {
      // r+ opens for reading and writing without changing a byte: what SQLite itself will need.
      fd = openSync(file + suffix, 'r+');
    } catch (e) {
      if (suffix !== '' && errnoCode(e) === 'ENOENT') continue;
      return fail('data dir', `${file + suffix}: expected readable and writable by ${user}, received ${errnoCode(e)}`);
    }
    try {
      if (suffix === '') {
        const buf = Buffer.alloc(SQLITE_HEADER.length);
        header = buf.subarray(0, readSync(fd, buf, 0, buf.length, 0));
      }
    } finally {
      closeSync(fd);
    }
  }
  // An empty file is what SQLite makes of a new database; anything else must carry the header.
  if (header.length > 0 && !header.equals(SQLITE_HEADER)) {
    return warn('data dir', `${file} is not a SQLite database: the agent will move it aside and start an empty outbox`);
  }
  return `${AGENT_DB_FILE} (${formatBytes(st.size)}) readable and writable`;
}

/**
 * Checks that `dir` is (or can be created as) a directory the current user can write, has free space, and that
 * an existing outbox database in it can be opened for reading and writing. Leaves nothing behind.
 */
export function checkDataDir(dir: string, opts: DataDirOptions = {}): Finding[] {
  const lowSpace = opts.lowSpaceBytes ?? LOW_SPACE_BYTES;
  const user = whoAmI();
  let created: string | undefined;
  try {
    const st = statSync(dir);
    if (!st.isDirectory()) return [fail('data dir', `${dir}: expected a directory (dataDir), received ${kindOf(st)}`)];
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOTDIR') return [fail('data dir', `${dir}: expected a directory (dataDir), received a path through a regular file (ENOTDIR)`)];
    if (code !== 'ENOENT') return [fail('data dir', `${dir}: cannot be examined by ${user} (${code})`)];
    try {
      created = makeDirs(dir);
    } catch (e2) {
      return [fail('data dir', `${dir} does not exist and ${user} cannot create it (${errnoCode(e2)})`)];
    }
  }
  try {
    const notWritable = probeWrite(dir);
    if (notWritable) return [fail('data dir', `${dir}: expected a directory ${user} can write, but creating a file in it fails (${notWritable})`)];
    const findings: Finding[] = [];
    const notes = [created ? `${dir} does not exist yet; ${user} can create it and write in it` : `${dir} is a directory ${user} can write`];
    try {
      const fs = statfsSync(dir);
      const free = fs.bavail * fs.bsize;
      if (free < lowSpace) findings.push(warn('data dir', `${dir}: only ${formatBytes(free)} free (less than ${formatBytes(lowSpace)}): the outbox will soon refuse messages`));
      else notes.push(`${formatBytes(free)} free`);
    } catch (e) {
      findings.push(warn('data dir', `${dir}: free space unknown (statfs: ${errnoCode(e)})`));
    }
    const db = created ? `no ${AGENT_DB_FILE} yet` : checkDatabase(dir, user);
    if (typeof db === 'string') notes.push(db);
    else findings.push(db);
    if (process.getuid?.() === 0) notes.push('checked as root, which bypasses permissions: run the doctor as the service user to check its access');
    if (findings.some((f) => f.status === 'FAIL')) return findings.filter((f) => f.status === 'FAIL');
    return findings.length > 0 ? findings : [ok('data dir', notes.join('; '))];
  } finally {
    if (created) removeCreated(dir, created);
  }
}
