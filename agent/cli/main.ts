#!/usr/bin/env node
/**
 * The `alink-agent` command.
 *
 *   alink-agent run --config agent.config.json    run the agent until SIGTERM/SIGINT (SIGHUP reloads)
 *   alink-agent doctor --config agent.config.json check everything the agent needs, one line per finding
 *   alink-agent tsl check FILE | types FILE...    check a Thing Model / print TypeScript types (a namespace per product for several)
 *
 * Under systemd (Type=notify) `run` sends READY=1 once the first connection attempt has finished (connected or
 * not), keeps STATUS= current, pings WATCHDOG=1 while the agent is alive, and sends RELOADING=1 / STOPPING=1
 * around SIGHUP / SIGTERM.
 *
 * Exit codes: 0 clean stop, 1 runtime failure, 2 usage or configuration error (one line on stderr naming the key).
 */
import { Agent } from '../agent';
import { leanStart } from '../lifecycle/lean-start';
import { handleSignals } from '../lifecycle/shutdown';
import { SystemdIntegration } from '../lifecycle/systemd';

/** Where the command writes; tests pass buffers. */
export interface CliIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

export const USAGE = `Usage:
  alink-agent run --config FILE     run the agent (SIGTERM/SIGINT stop it, SIGHUP reloads handler options and log level)
  alink-agent doctor --config FILE  check the configuration, Thing Model, data directory, CA file, broker and credentials
  alink-agent tsl check FILE        check a Thing Model (TSL) file
  alink-agent tsl types FILE...     print TypeScript types for Thing Models (several: one namespace per product;
                                    --product NAME=FILE names a namespace)
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

/** Runs the agent until a stop signal; resolves with the exit code. `env` carries systemd's variables. */
async function runAgent(configPath: string, io: CliIo, env: NodeJS.ProcessEnv): Promise<number> {
  const leanEnd = leanStart();
  let agent: Agent;
  try {
    agent = await Agent.create(configPath, { env });
  } catch (err) {
    leanEnd();
    io.stderr.write(`${oneLine(err)}\n`);
    return SETUP_ERRORS.has((err as Error)?.name) ? 2 : 1;
  }
  const systemd = new SystemdIntegration({ env, logger: agent.logger, isAlive: () => agent.isAlive(), describe: () => agent.statusLine() });
  const onState = () => systemd.updateStatus();
  agent.on('state', onState);
  const { drainTimeoutMs, disconnectTimeoutMs } = agent.config.shutdown;
  let exitCode: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => (exitCode = resolve));
  let stopping = false;
  const uninstall = handleSignals(
    {
      // STOPPING=1 first: systemd's stop timeout runs from here, and the pings end with it.
      stop: () => {
        stopping = true;
        systemd.stop();
        return agent.stop();
      },
      reload: async () => {
        systemd.reloading();
        try {
          await agent.reload();
        } finally {
          // A refused reload leaves the running configuration in place: the agent is as ready as before.
          if (!stopping) systemd.ready();
        }
      },
    },
    {
      logger: agent.logger,
      exit: (code) => exitCode(code),
      // Drain, plugin stops (5 s each at most) and the disconnect, with room to spare.
      stopTimeoutMs: drainTimeoutMs + disconnectTimeoutMs + 10_000,
    },
  );
  const finish = () => {
    uninstall();
    agent.off('state', onState);
    systemd.stop();
  };
  // start() moves the agent to `starting` before it returns its promise: only then does the watchdog's first
  // look at isAlive() find a working agent (started earlier, it warned "pings withheld" at every start).
  const started = agent.start();
  systemd.start();
  try {
    await started;
  } catch (err) {
    leanEnd();
    finish();
    io.stderr.write(`${oneLine(err)}\n`);
    return 1;
  }
  // Config, Thing Model, stores and plugins are up and the first attempt is over, connected or not.
  leanEnd();
  if (!stopping) systemd.ready();
  const code = await exited;
  finish();
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
    return runAgent(args.config, io, process.env);
  }
  if (command === 'doctor') {
    const { runDoctor } = await import('../doctor');
    return runDoctor(rest, { stdout: (s) => io.stdout.write(s), stderr: (s) => io.stderr.write(s) });
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
