'use strict';
/**
 * alink-agent-native: systemd's notify protocol for Node. See index.d.ts for the API.
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

module.exports = { notify, monotonicUsec, path: file };
