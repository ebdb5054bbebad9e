#!/usr/bin/env node
/**
 * The `alink-agent` command.
 *
 *   alink-agent run --config agent.config.json    run the agent until SIGTERM/SIGINT (SIGHUP reloads)
 *   alink-agent tsl check|types FILE              check a Thing Model / print its TypeScript types
 *
 * Exit codes: 0 clean stop, 1 runtime failure, 2 usage or configuration error (one line on stderr naming the key).
 */
import { Agent } from '../agent';
import { handleSignals } from '../lifecycle/shutdown';

/** Where the command writes; tests pass buffers. */
export interface CliIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

export const USAGE = `Usage:
  alink-agent run --config FILE     run the agent (SIGTERM/SIGINT stop it, SIGHUP reloads handler options and log level)
  alink-agent tsl check FILE        check a Thing Model (TSL) file
  alink-agent tsl types FILE        print TypeScript types for a Thing Model
  alink-agent --help                show this help
`;

/** Errors that mean "what you asked for cannot start": printed as one line, exit 2. */
const SETUP_ERRORS = new Set(['ConfigError', 'TslError', 'PluginError']);

function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/\s*\n\s*/g, '; ');
}

function parseRunArgs(args: string[]): { config?: string; error?: string } {
  let config: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--config' || a === '-c') {
      const v = args[i + 1];
      if (v === undefined || v.startsWith('-')) return { error: `${a} needs a file path` };
      config = v;
      i++;
    } else if (a.startsWith('--config=')) {
      config = a.slice('--config='.length);
    } else {
      return { error: `unknown argument "${a}"` };
    }
  }
  if (!config) return { error: 'run needs --config FILE' };
  return { config };
}

/** Runs the agent until a stop signal; resolves with the exit code. */
async function runAgent(configPath: string, io: CliIo): Promise<number> {
  let agent: Agent;
  try {
    agent = await Agent.create(configPath);
  } catch (err) {
    io.stderr.write(`${oneLine(err)}\n`);
    return SETUP_ERRORS.has((err as Error)?.name) ? 2 : 1;
  }
  const { drainTimeoutMs, disconnectTimeoutMs } = agent.config.shutdown;
  let exitCode: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => (exitCode = resolve));
  const uninstall = handleSignals(agent, {
    logger: agent.logger,
    exit: (code) => exitCode(code),
    // Drain, plugin stops (5 s each at most) and the disconnect, with room to spare.
    stopTimeoutMs: drainTimeoutMs + disconnectTimeoutMs + 10_000,
  });
  try {
    await agent.start();
  } catch (err) {
    uninstall();
    io.stderr.write(`${oneLine(err)}\n`);
    return 1;
  }
  const code = await exited;
  uninstall();
  return code;
}

/** The whole command; resolves with the exit code. */
export async function main(argv: string[], io: CliIo = process): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    (command === undefined ? io.stderr : io.stdout).write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === 'run') {
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout.write(USAGE);
      return 0;
    }
    const args = parseRunArgs(rest);
    if (args.error || !args.config) {
      io.stderr.write(`alink-agent run: ${args.error}\n${USAGE}`);
      return 2;
    }
    return runAgent(args.config, io);
  }
  if (command === 'tsl') {
    const { runTslCommand } = await import('../../thing-model/cli');
    return runTslCommand(rest, { stdout: (s) => io.stdout.write(s), stderr: (s) => io.stderr.write(s) });
  }
  io.stderr.write(`alink-agent: unknown command "${command}"\n${USAGE}`);
  return 2;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${oneLine(err)}\n`);
      process.exit(1);
    },
  );
}
