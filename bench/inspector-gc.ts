/**
 * A full garbage collection in another Node process, on demand, through its inspector (Chrome DevTools Protocol
 * over a WebSocket): RSS read right after it is a floor that does not depend on where V8's collection cycle happened
 * to be, and the live JS heap comes with it. The process must run with `--inspect-port=127.0.0.1:0` (it listens on
 * nothing until SIGUSR1; then on a free port, which it prints on stderr). Used by bench/footprint.ts.
 */
import WebSocket from 'ws';

const LISTENING = /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]+)/;

export class InspectorGc {
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const msg = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: { message: string } };
      const w = msg.id === undefined ? undefined : this.waiting.get(msg.id);
      if (!w) return;
      this.waiting.delete(msg.id as number);
      if (msg.error) w.reject(new Error(msg.error.message));
      else w.resolve(msg.result);
    });
  }

  /** Sends SIGUSR1 to `pid` and connects to the inspector it then announces on the stderr `stderr()` returns. */
  static async attach(pid: number, stderr: () => string, timeoutMs = 10_000): Promise<InspectorGc> {
    process.kill(pid, 'SIGUSR1');
    const deadline = Date.now() + timeoutMs;
    let url: string | undefined;
    while (!(url = LISTENING.exec(stderr())?.[1])) {
      if (Date.now() > deadline) throw new Error(`no inspector announced by ${pid} within ${timeoutMs} ms (is it run with --inspect-port=127.0.0.1:0?)`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new InspectorGc(ws);
  }

  private call(method: string, timeoutMs = 30_000): Promise<unknown> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${method}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (v) => {
          clearTimeout(t);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
      this.ws.send(JSON.stringify({ id, method }));
    });
  }

  /** A full collection; resolves with the live JS heap after it, in bytes. */
  async collect(): Promise<number> {
    await this.call('HeapProfiler.collectGarbage');
    const usage = (await this.call('Runtime.getHeapUsage')) as { usedSize: number };
    return usage.usedSize;
  }

  close(): void {
    this.ws.close();
  }
}
