/**
 * The system calls a {@link StagedFile} makes beyond node:fs, through the native addon (native/) when it is
 * built (docs/ota.md, "Download"; docs/performance.md, "OTA download"); without it the file works the same, only
 * with more of the JS thread and of the page cache:
 *
 * - `dropCache`: each fsynced range leaves the page cache (posix_fadvise DONTNEED, native/src/pagecache.c).
 * - `hash`: the digest of each block is updated on the thread pool beside its write (Node's own OpenSSL,
 *   native/src/hash.c) rather than on the JS thread with node:crypto.
 */
import { createHash, type Hash } from 'node:crypto';
import { findNativeDir, loadNativeAddon, type NativeAddon } from '../lifecycle/binding';
import type { SignMethod } from './notice';

/** Drops the pages of `fd`'s file in [offset, offset + length) from the page cache; see native/index.d.ts. */
export type DropPageCache = (fd: number, offset: number, length: number) => Promise<void>;

/** An incremental digest of a file's bytes. */
export interface BlockHash {
  /**
   * Adds `bytes`: undefined once done, or a promise while the work runs off the JS thread (then `bytes` must not
   * change, and nothing else be called, until it settles).
   */
  update(bytes: Buffer): Promise<void> | undefined;
  /** An independent copy of the state so far. */
  copy(): BlockHash;
  /** The digest, lower-case hex; ends the state. */
  digest(): string;
}

/** What a StagedFile uses of the addon. */
export interface StagedIo {
  /** Absent: nothing is dropped. */
  dropCache?: DropPageCache;
  /** A new digest for `method`. */
  hash(method: SignMethod): BlockHash;
}

/** A build from before a call existed loads but lacks it. */
type Addon = Partial<Pick<NativeAddon, 'dropPageCache' | 'createPoolHash'>>;
type PoolHash = import('../../native').PoolHash;

/** node:crypto's digest, updated on the JS thread. */
export function nodeHash(method: SignMethod, from: Hash = createHash(method)): BlockHash {
  return {
    update: (bytes) => void from.update(bytes),
    copy: () => nodeHash(method, from.copy()),
    digest: () => from.digest('hex'),
  };
}

function poolHash(from: PoolHash): BlockHash {
  return { update: (bytes) => from.update(bytes), copy: () => poolHash(from.copy()), digest: () => from.digest().toString('hex') };
}

/** The addon's calls from `dir` (default: the one {@link findNativeDir} finds), node:crypto and no drops without it. Never throws. */
export function loadStagedIo(dir: string | undefined = findNativeDir()): StagedIo {
  // Not built for this platform: the node:fs and node:crypto paths.
  const load = loadNativeAddon(dir);
  const addon: Addon = load.ok ? load.addon : {};
  const create = typeof addon.createPoolHash === 'function' ? addon.createPoolHash : undefined;
  return {
    dropCache: typeof addon.dropPageCache === 'function' ? addon.dropPageCache : undefined,
    hash: (method) => {
      let pool: PoolHash | undefined;
      try {
        pool = create?.(method);
      } catch {
        // an OpenSSL that refuses the algorithm (FIPS and md5) may still leave node:crypto to decide
      }
      return pool ? poolHash(pool) : nodeHash(method);
    },
  };
}
