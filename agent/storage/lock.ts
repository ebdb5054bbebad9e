/**
 * One process per database file: `<file>.lock` holds the pid and start time of the process that has the file open,
 * so that two agents never share one outbox (each would send and delete the other's messages).
 */
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { StorageLockedError, storageFailure } from './errors';

/** Linux's start time of `pid` (clock ticks since boot) and whether it is a zombie; undefined without /proc. */
function processInfo(pid: number): { start: string; zombie: boolean } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses; the fields after its closing one do not.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = fields[19];
    return start === undefined ? undefined : { start, zombie: fields[0] === 'Z' };
  } catch {
    return undefined;
  }
}

/** True if the process that wrote a lock with this pid and start time still runs. */
function lockHolderAlive(pid: number, start: string | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    // EPERM: alive, under another user.
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const info = processInfo(pid);
  // A SIGKILLed child not yet reaped by its parent still answers kill(pid, 0).
  if (info?.zombie) return false;
  // The pid may be reused after a restart (a container's agent is pid 1 every time): a different start time is
  // another process, and the lock is stale.
  return start === undefined || info === undefined || info.start === start;
}

function readLock(lockFile: string): { pid: number; start: string | undefined } | 'gone' | undefined {
  let text: string;
  try {
    text = readFileSync(lockFile, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw e;
  }
  const [pid, start] = text.trim().split(/\s+/);
  const n = Number(pid);
  return Number.isInteger(n) && n > 0 ? { pid: n, start: start === undefined || start === '-' ? undefined : start } : undefined;
}

/**
 * Takes `<file>.lock` for this process, so that two agents never share one outbox (each would send and delete the
 * other's messages). The lock appears whole or not at all (written aside, then hard-linked into place, which fails if
 * it exists); a lock whose process is dead is taken over. Returns the release. Throws {@link StorageLockedError}.
 */
export function lockFile(file: string, log: Logger | undefined): () => void {
  const lock = `${file}.lock`;
  const info = processInfo(process.pid);
  const mine = `${process.pid} ${info?.start ?? '-'}\n`;
  const tmp = `${lock}.${process.pid}.${Date.now()}.tmp`;
  try {
    writeFileSync(tmp, mine);
  } catch (e) {
    throw storageFailure(`creating the lock ${lock}`, e);
  }
  try {
    // Bounded: each round either takes the lock, fails, or removes one stale lock another starter may race for.
    for (let round = 0; round < 5; round++) {
      try {
        linkSync(tmp, lock);
        return () => {
          try {
            if (readFileSync(lock, 'utf8') === mine) unlinkSync(lock);
          } catch {
            // Already gone: nothing to release.
          }
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw storageFailure(`creating the lock ${lock}`, e);
      }
      let holder: ReturnType<typeof readLock>;
      try {
        holder = readLock(lock);
      } catch (e) {
        throw storageFailure(`reading the lock ${lock}`, e);
      }
      if (holder === 'gone') continue;
      if (holder && lockHolderAlive(holder.pid, holder.start)) throw new StorageLockedError(dirname(file), holder.pid, lock);
      // Not `pid`: pino's base fields already carry this process's pid, and a second `pid` key would make the line
      // ambiguous JSON (parsers keep one of the two).
      log?.warn({ lockFile: lock, holderPid: holder?.pid }, 'taking over the lock of a process that is no longer running');
      try {
        unlinkSync(lock);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw storageFailure(`removing the stale lock ${lock}`, e);
      }
    }
    throw storageFailure(`taking the lock ${lock}`, new Error('other processes kept replacing it'));
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // Best effort: a leftover .tmp file holds no lock.
    }
  }
}
