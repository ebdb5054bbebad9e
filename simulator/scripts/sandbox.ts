/**
 * One product's parse script, run in a worker thread (simulator/scripts/worker-source.ts) with a time and a memory
 * bound: every call has `timeoutMs`, and a call that overruns (an endless loop) terminates the worker; a script
 * that exhausts `maxHeapMb` kills only its worker. Either way the calls waiting on it fail with 26002 and the
 * next call starts a fresh worker, so a broken script never takes the simulator down.
 *
 * Why a worker and not `vm` alone: `vm`'s `timeout` stops synchronous loops but not memory growth, and it runs
 * on the simulator's own thread and heap; a worker with `resourceLimits` bounds both, and costs one message each
 * way per call (bench/raw.ts measures it).
 */
import { Worker } from 'node:worker_threads';
import { AlinkCodes } from '../../thing-model';
import { WORKER_SOURCE } from './worker-source';

export type ScriptFunction = 'rawDataToProtocol' | 'protocolToRawData' | 'transformPayload';

/** A call's result: the value, or the Alink code of docs/protocol/raw-data.md ("Codes") and why. */
export type ScriptResult<T> = { ok: true; value: T } | { ok: false; code: number; message: string };

export interface SandboxOptions {
  /** Per call; default 1000 ms. */
  timeoutMs?: number;
  /** The worker's old-generation heap; default 32 MB. */
  maxHeapMb?: number;
}

interface Waiting {
  resolve(r: ScriptResult<unknown>): void;
  timer: NodeJS.Timeout;
}

interface WorkerReply {
  op?: 'loaded';
  id?: number;
  value?: unknown;
  fail?: 'missing' | 'throw' | 'nothing' | 'bad';
  message?: string;
  functions?: string[];
  error?: string;
}

const FAIL_CODES = {
  missing: AlinkCodes.SCRIPT_MISSING_FUNCTIONS,
  throw: AlinkCodes.SCRIPT_ERROR,
  nothing: AlinkCodes.SCRIPT_RETURNED_NOTHING,
  bad: AlinkCodes.SCRIPT_BAD_OUTPUT,
} as const;

export class ScriptSandbox {
  private worker: Worker | undefined;
  private loaded: Promise<ScriptResult<string[]>> | undefined;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private readonly timeoutMs: number;
  private readonly maxHeapMb: number;
  private closed = false;

  constructor(
    readonly code: string,
    opts: SandboxOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 1000;
    this.maxHeapMb = opts.maxHeapMb ?? 32;
  }

  /** Compiles the script (in a worker) and says which functions it defines, or why it cannot run. */
  load(): Promise<ScriptResult<string[]>> {
    if (this.closed) return Promise.resolve({ ok: false, code: AlinkCodes.SCRIPT_ERROR, message: 'the script was replaced' });
    this.loaded ??= this.spawn();
    return this.loaded;
  }

  /** Runs one function of the script; never rejects. */
  async call<T>(fn: ScriptFunction, arg: unknown, topic?: string): Promise<ScriptResult<T>> {
    const loaded = await this.load();
    if (!loaded.ok) return loaded;
    const worker = this.worker;
    if (!worker) return { ok: false, code: AlinkCodes.SCRIPT_ERROR, message: 'the script worker is not running' };
    const id = this.nextId++;
    return new Promise<ScriptResult<T>>((resolve) => {
      const timer = setTimeout(() => this.kill(`${fn} did not finish within ${this.timeoutMs} ms`), this.timeoutMs);
      this.waiting.set(id, { resolve: resolve as (r: ScriptResult<unknown>) => void, timer });
      worker.postMessage({ id, fn, arg, topic });
    });
  }

  /** Stops the worker; waiting calls fail. */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.fail('the script was replaced');
    this.worker = undefined;
    this.loaded = undefined;
    await w?.terminate();
  }

  private spawn(): Promise<ScriptResult<string[]>> {
    if (this.code.trim() === '') return Promise.resolve({ ok: false, code: AlinkCodes.SCRIPT_NOT_FOUND, message: 'the script is empty' });
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      resourceLimits: { maxOldGenerationSizeMb: this.maxHeapMb, maxYoungGenerationSizeMb: 8, stackSizeMb: 4 },
      stdout: true,
      stderr: true,
    });
    worker.unref();
    this.worker = worker;
    return new Promise<ScriptResult<string[]>>((resolve) => {
      const timer = setTimeout(() => {
        resolve({ ok: false, code: AlinkCodes.SCRIPT_ERROR, message: `the script did not load within ${Math.max(this.timeoutMs, 2000)} ms` });
        this.kill('the script did not load in time');
      }, Math.max(this.timeoutMs, 2000));
      worker.on('message', (m: WorkerReply) => {
        if (m.op === 'loaded') {
          clearTimeout(timer);
          if (m.error !== undefined) return resolve({ ok: false, code: AlinkCodes.SCRIPT_ERROR, message: `the script does not compile or run: ${m.error}` });
          const fns = m.functions ?? [];
          const missing = ['rawDataToProtocol', 'protocolToRawData'].filter((f) => !fns.includes(f));
          if (missing.length) return resolve({ ok: false, code: AlinkCodes.SCRIPT_MISSING_FUNCTIONS, message: `the script does not define ${missing.join(' and ')}` });
          return resolve({ ok: true, value: fns });
        }
        this.settle(m);
      });
      worker.on('error', (e) => {
        clearTimeout(timer);
        const why = (e as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY' ? `the script exceeded its ${this.maxHeapMb} MB heap` : `the script worker failed: ${e.message}`;
        resolve({ ok: false, code: AlinkCodes.SCRIPT_ERROR, message: why });
        this.reset(worker, why);
      });
      worker.on('exit', () => {
        clearTimeout(timer);
        resolve({ ok: false, code: AlinkCodes.SCRIPT_ERROR, message: 'the script worker stopped' });
        this.reset(worker, 'the script worker stopped');
      });
      worker.postMessage({ op: 'load', code: this.code });
    });
  }

  private settle(m: WorkerReply): void {
    const w = m.id === undefined ? undefined : this.waiting.get(m.id);
    if (!w) return;
    this.waiting.delete(m.id!);
    clearTimeout(w.timer);
    if (m.fail) w.resolve({ ok: false, code: FAIL_CODES[m.fail], message: m.message ?? m.fail });
    else w.resolve({ ok: true, value: m.value });
  }

  /** An overrun: the worker goes, the calls waiting on it fail, the next call starts a new one. */
  private kill(why: string): void {
    const w = this.worker;
    if (w) this.reset(w, why);
    void w?.terminate();
  }

  private reset(worker: Worker, why: string): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.loaded = undefined;
    this.fail(why);
  }

  private fail(why: string): void {
    for (const [id, w] of this.waiting) {
      clearTimeout(w.timer);
      w.resolve({ ok: false, code: AlinkCodes.SCRIPT_ERROR, message: why });
      this.waiting.delete(id);
    }
  }
}
