/**
 * The agent as a real child process, for the tests where a crash matters: `alink-agent run --config <file>` from the
 * repository's sources (TypeScript through ts-register.js), systemd's variables cleared so the child does not try
 * to notify a manager. The caller kills it (`kill('SIGKILL')` for a crash, `SIGTERM` for a clean stop) and awaits
 * `exited`; a test never leaves one running.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

const REPO = resolve(__dirname, '..', '..');

export interface AgentExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Everything the child wrote to stderr (a clean run writes nothing there). */
  stderr: string;
}

export interface AgentChild {
  readonly pid: number | undefined;
  kill(signal: NodeJS.Signals): void;
  readonly exited: Promise<AgentExit>;
}

export interface AgentChildOptions {
  /**
   * Called with each whole line of the child's stdout (its JSON log lines, a fixture plugin's reports); a line cut
   * short by a kill is not passed. Without it stdout is ignored.
   */
  onLine?: (line: string) => void;
  /** Pass stdout through to the test's own (debugging a test); `onLine` then sees nothing. */
  inherit?: boolean;
}

export function spawnAgentChild(configFile: string, opts: AgentChildOptions = {}): AgentChild {
  const stdout = opts.inherit ? 'inherit' : opts.onLine ? 'pipe' : 'ignore';
  const proc = spawn(process.execPath, ['-r', './test/helpers/ts-register.js', 'agent/cli/main.ts', 'run', '--config', configFile], {
    cwd: REPO,
    stdio: ['ignore', stdout, 'pipe'],
    env: { ...process.env, NOTIFY_SOCKET: '', WATCHDOG_USEC: '' },
  });
  const onLine = opts.onLine;
  if (onLine && proc.stdout) {
    let buf = '';
    proc.stdout.on('data', (d: Buffer) => {
      const parts = (buf + d.toString()).split('\n');
      buf = parts.pop() ?? '';
      for (const line of parts) onLine(line);
    });
  }
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  // 'close', not 'exit': the last lines of stdout and stderr are read by then.
  const exited = new Promise<AgentExit>((res) => proc.once('close', (code, signal) => res({ code, signal, stderr })));
  return {
    pid: proc.pid,
    exited,
    kill: (signal) => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
  };
}
