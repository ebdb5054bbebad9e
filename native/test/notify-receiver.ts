/**
 * A notification socket for tests that does not depend on the addon: a python3 child binds the AF_UNIX datagram
 * socket (Node cannot) and reports every datagram on stdout. Each receiver lives in its own temp dir. It lives in
 * native/ so that the addon's own test needs nothing outside native/; the agent's systemd tests use it too.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';

/** One datagram as the receiver saw it. */
export interface Datagram {
  /** Arrival time, CLOCK_MONOTONIC in ms (comparable with `process.hrtime.bigint()`). */
  atMs: number;
  /** The sender's pid from SCM_CREDENTIALS. */
  pid: number | null;
  text: string;
}

const SCRIPT = join(__dirname, 'notify-receiver.py');
/** The receiver exits on its own after this long even if a test forgets it. */
const LIFETIME_S = 120;

export class NotifyReceiver {
  readonly datagrams: Datagram[] = [];
  private exited: Promise<void>;

  private constructor(
    /** `/path/notify.sock` or `@name`, as it goes into NOTIFY_SOCKET. */
    readonly address: string,
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly dir: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** Binds a path socket in a fresh temp dir, or an abstract socket with a random name. */
  static async start(kind: 'path' | 'abstract' = 'path'): Promise<NotifyReceiver> {
    const dir = mkdtempSync(join(tmpdir(), 'alink-notify-'));
    const address = kind === 'path' ? join(dir, 'notify.sock') : `@alink-agent-test-${randomBytes(8).toString('hex')}`;
    const child = spawn('python3', [SCRIPT, address, String(LIFETIME_S)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const receiver = new NotifyReceiver(address, child, dir);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`notify receiver did not start in 5000 ms: ${stderr}`)), 5000);
      const lines = createInterface({ input: child.stdout });
      lines.on('line', (line) => {
        const parsed = JSON.parse(line) as { ready?: boolean; t?: number; pid?: number | null; text?: string };
        if (parsed.ready) {
          clearTimeout(timer);
          resolve();
        } else receiver.datagrams.push({ atMs: parsed.t ?? NaN, pid: parsed.pid ?? null, text: parsed.text ?? '' });
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot start python3 for the notify receiver: ${err.message}`));
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`notify receiver exited with ${code}: ${stderr}`));
      });
    });
    return receiver;
  }

  /** The datagrams whose text contains `needle` (e.g. `WATCHDOG=1`). */
  matching(needle: string): Datagram[] {
    return this.datagrams.filter((d) => d.text.split('\n').includes(needle));
  }

  /** Resolves with the first datagram (from index `from`) whose text has the line `needle`. */
  async waitFor(needle: string, timeoutMs = 5000, from = 0): Promise<Datagram> {
    const hits = await this.waitForCount(needle, 1, timeoutMs, from);
    return hits[0] as Datagram;
  }

  /** Resolves with the first `count` datagrams (from index `from`) whose text has the line `needle`. */
  async waitForCount(needle: string, count: number, timeoutMs = 5000, from = 0): Promise<Datagram[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hits = this.datagrams.slice(from).filter((d) => d.text.split('\n').includes(needle));
      if (hits.length >= count) return hits.slice(0, count);
      if (Date.now() > deadline) {
        throw new Error(`${hits.length} of ${count} datagrams with ${needle} after ${timeoutMs} ms; got ${JSON.stringify(this.datagrams.slice(from).map((d) => d.text))}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async close(): Promise<void> {
    this.child.stdin.end();
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    await this.exited;
    clearTimeout(killer);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
