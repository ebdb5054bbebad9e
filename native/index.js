'use strict';
/**
 * alink-agent-native: systemd's notify protocol for Node, dropping a file's page cache, and digests updated on the
 * thread pool. See index.d.ts.
 * Loading throws when no build for this platform and Node ABI exists (build it with `npm ci` at the repo root,
 * or `node scripts/build.js` here); callers that can live without it catch that.
 */
const { getSystemErrorName } = require('node:util');
const file = require('node-gyp-build').resolve(__dirname);
const binding = require(file);

/** Gives an addon error the symbolic code Node's own system errors carry (ECONNREFUSED, ENOENT, ...). */
function withCode(err) {
  if (err && typeof err.errno === 'number' && err.code === undefined) {
    try {
      err.code = getSystemErrorName(-err.errno);
    } catch {
      err.code = 'UNKNOWN';
    }
    err.message = `${err.code}: ${err.message}`;
  }
  return err;
}

function notify(state, socketPath) {
  if (typeof state !== 'string') {
    const err = new TypeError(`notify(state): expected a string, received ${typeof state}`);
    err.code = 'ERR_INVALID_ARG_TYPE';
    throw err;
  }
  const target = socketPath === undefined ? process.env.NOTIFY_SOCKET : socketPath;
  if (!target) return false;
  try {
    binding.send(target, state);
  } catch (err) {
    throw withCode(err);
  }
  return true;
}

function monotonicUsec() {
  return binding.monotonicUsec();
}

function dropPageCache(fd, offset, length) {
  return binding.dropPageCache(fd, offset, length).catch((err) => {
    throw withCode(err);
  });
}

/** A digest state of the addon (hash.c); one update at a time, each on the thread pool. */
class PoolHash {
  #state;

  constructor(state) {
    this.#state = state;
  }

  update(data) {
    return binding.hashUpdate(this.#state, data);
  }

  copy() {
    return new PoolHash(binding.hashCopy(this.#state));
  }

  digest() {
    return binding.hashDigest(this.#state);
  }
}

function createPoolHash(algorithm) {
  const state = binding.hashCreate(algorithm);
  return state === undefined ? undefined : new PoolHash(state);
}

module.exports = { notify, monotonicUsec, dropPageCache, createPoolHash, path: file };
