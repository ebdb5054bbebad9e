'use strict';
/**
 * Builds the addon from source with the node-gyp that ships inside npm; run by the repo root's `install` script
 * on `npm ci`, and by hand with `node native/scripts/build.js`.
 *
 * A failed build does not fail the install: the agent runs without systemd notify when the addon is missing
 * (and says so when it starts). Pass `--strict` to exit 1 instead, e.g. when checking a build by hand.
 */
const { spawnSync } = require('node:child_process');
const { existsSync, readFileSync } = require('node:fs');
const path = require('node:path');

const NATIVE_DIR = path.resolve(__dirname, '..');
const TAG = 'alink-agent-native:';
/** A Pi 3 compiles one C file in seconds; the bound only stops a hung toolchain from hanging `npm ci`. */
const BUILD_TIMEOUT_MS = 5 * 60 * 1000;
/** How much of node-gyp's output a failure shows. */
const TAIL_LINES = 30;

/** The node-gyp entry point: the one npm hands to scripts, else the one inside the npm next to this node. */
function findNodeGyp(env) {
  const candidates = [
    env.npm_config_node_gyp,
    env.npm_execpath && path.join(path.dirname(env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((c) => typeof c === 'string' && c !== '' && existsSync(c));
}

/**
 * Without a nodedir node-gyp downloads headers, which fails offline; the headers installed next to this node are
 * used instead when their version is exactly this node's.
 */
function localNodeDir(env) {
  if (env.npm_config_nodedir) return undefined;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  try {
    const header = readFileSync(path.join(prefix, 'include', 'node', 'node_version.h'), 'utf8');
    const part = (name) => (header.match(new RegExp(`#define ${name} (\\d+)`)) || [])[1];
    const version = `v${part('NODE_MAJOR_VERSION')}.${part('NODE_MINOR_VERSION')}.${part('NODE_PATCH_VERSION')}`;
    return version === process.version ? prefix : undefined;
  } catch {
    return undefined;
  }
}

function tail(text) {
  return text.trimEnd().split('\n').slice(-TAIL_LINES).join('\n');
}

function main() {
  const strict = process.argv.includes('--strict');
  const fail = (why, output) => {
    if (output) console.error(tail(output));
    console.error(`${TAG} build FAILED: ${why}`);
    console.error(`${TAG} the agent will run without systemd notify (a Type=notify unit will not see READY=1); install g++, make, python3 and the Node headers, then run: node native/scripts/build.js`);
    process.exitCode = strict ? 1 : 0;
  };

  const nodeGyp = findNodeGyp(process.env);
  if (!nodeGyp) return fail('node-gyp not found (expected npm_config_node_gyp or the node-gyp bundled with npm)');

  const args = ['rebuild', '--release'];
  const nodeDir = localNodeDir(process.env);
  if (nodeDir) args.push(`--nodedir=${nodeDir}`);
  const [cmd, argv] = nodeGyp.endsWith('.js') ? [process.execPath, [nodeGyp, ...args]] : [nodeGyp, args];

  const run = spawnSync(cmd, argv, { cwd: NATIVE_DIR, encoding: 'utf8', timeout: BUILD_TIMEOUT_MS, env: process.env });
  const output = `${run.stdout || ''}${run.stderr || ''}`;
  if (run.error) return fail(`${run.error.code || 'error'}: ${run.error.message}`, output);
  if (run.signal) return fail(`node-gyp killed by ${run.signal} (limit ${BUILD_TIMEOUT_MS} ms)`, output);
  if (run.status !== 0) return fail(`node-gyp exited with status ${run.status}`, output);

  let built;
  try {
    built = require('node-gyp-build').resolve(NATIVE_DIR);
  } catch (err) {
    return fail(`node-gyp succeeded but no .node file was found: ${err.message.split('\n')[0]}`, output);
  }
  console.log(`${TAG} built ${path.relative(process.cwd(), built) || built}`);
}

main();
