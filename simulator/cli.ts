#!/usr/bin/env node
/**
 * alink-sim: runs the cloud simulator.
 *
 *   alink-sim serve --config simulator.config.json [--host H] [--http-port N] [--mqtt-port N] [--log-level L]
 *
 * Logs pino JSON lines on stdout; the line with "msg":"ready" carries httpUrl and mqttUrl once both listen.
 * SIGTERM or SIGINT stops it cleanly (exit 0). A bad config prints one line naming the key and exits 2;
 * a start failure (port in use, external broker unreachable) exits 1.
 */
import { dirname, resolve } from 'node:path';
import { isPlainObject } from '../thing-model';
import { CloudSimulator } from './cloud-simulator';
import { ConfigError, readConfigFile, validateConfig } from './config/load';

const USAGE = 'usage: alink-sim serve --config FILE [--host H] [--http-port N] [--mqtt-port N] [--log-level LEVEL]';

interface ServeArgs {
  config: string;
  host?: string;
  httpPort?: string;
  mqttPort?: string;
  logLevel?: string;
}

function fail(message: string, code: number): never {
  process.stderr.write(`alink-sim: ${message}\n`);
  process.exit(code);
}

function parseArgs(argv: string[]): ServeArgs {
  const [command, ...rest] = argv;
  if (command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (command !== 'serve') fail(`expected the command "serve", received ${JSON.stringify(command ?? '')}. ${USAGE}`, 2);
  const flags: Record<string, string> = {};
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) fail(`unexpected argument ${JSON.stringify(a)}. ${USAGE}`, 2);
    const name = m[1]!;
    if (!['config', 'host', 'http-port', 'mqtt-port', 'log-level'].includes(name)) fail(`unknown option --${name}. ${USAGE}`, 2);
    const value = m[2] ?? rest[++i];
    if (value === undefined) fail(`--${name}: expected a value, received nothing`, 2);
    flags[name] = value;
  }
  if (!flags.config) fail(`--config: expected a file name, received nothing. ${USAGE}`, 2);
  return { config: flags.config, host: flags.host, httpPort: flags['http-port'], mqttPort: flags['mqtt-port'], logLevel: flags['log-level'] };
}

/** Command-line values replace the file's; they are validated with it, so errors name the config key. */
function applyOverrides(raw: unknown, args: ServeArgs): unknown {
  if (!isPlainObject(raw)) return raw;
  const cfg = raw as Record<string, Record<string, unknown> | undefined>;
  const section = (k: string) => (cfg[k] = typeof cfg[k] === 'object' && cfg[k] !== null ? cfg[k] : {});
  const num = (v: string) => (/^[0-9]+$/.test(v) ? Number(v) : v);
  if (args.host !== undefined) {
    section('http').host = args.host;
    section('mqtt').host = args.host;
  }
  if (args.httpPort !== undefined) section('http').port = num(args.httpPort);
  if (args.mqttPort !== undefined) section('mqtt').port = num(args.mqttPort);
  if (args.logLevel !== undefined) section('log').level = args.logLevel;
  return cfg;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  let sim: CloudSimulator;
  try {
    const raw = applyOverrides(readConfigFile(args.config), args);
    const config = validateConfig(raw, { source: args.config, baseDir: dirname(resolve(args.config)) });
    sim = new CloudSimulator(config);
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message, 2);
    throw e;
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      sim.logger.warn({ signal }, 'second signal: exiting without a clean stop');
      process.exit(1);
    }
    stopping = true;
    sim.logger.info({ signal }, 'stopping');
    sim.stop().then(
      () => process.exit(0),
      (e: Error) => {
        sim.logger.error({ err: e.message }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  try {
    await sim.start();
  } catch (e) {
    sim.logger.fatal({ err: (e as Error).message }, 'start failed');
    await sim.stop().catch(() => undefined);
    process.exit(1);
  }
}

main().catch((e: Error) => {
  process.stderr.write(`alink-sim: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
