/**
 * Runs systemd-child.ts as systemd would run the agent (TypeScript through test/helpers/ts-register.js) and
 * collects its stderr log lines.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');
const REGISTER = join(ROOT, 'test', 'helpers', 'ts-register.js');
const FIXTURE = join(__dirname, 'systemd-child.ts');

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export class SystemdChild {
  readonly logs: LogLine[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private constructor(readonly proc: ChildProcessWithoutNullStreams) {
    proc.stderr.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      const lines = this.stderr.split('\n');
      this.stderr = lines.pop() ?? '';
      for (const l of lines) {
        try {
          this.logs.push(JSON.parse(l) as LogLine);
        } catch {
          this.logs.push({ level: 0, msg: l });
        }
      }
    });
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** `env` is merged over a copy of this process's environment without any systemd variables. */
  static spawn(env: Record<string, string>): SystemdChild {
    const base = { ...process.env };
    for (const k of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete base[k];
    const proc = spawn(process.execPath, ['-r', REGISTER, FIXTURE], { cwd: ROOT, env: { ...base, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    return new SystemdChild(proc);
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  command(line: string): void {
    this.proc.stdin.write(`${line}\n`);
  }

  /** Ends stdin (the fixture stops on that) and waits for the exit; SIGKILL after `timeoutMs`. */
  async close(timeoutMs = 5000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.stdin.end();
    const killer = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    const result = await this.exited;
    clearTimeout(killer);
    return result;
  }
}
