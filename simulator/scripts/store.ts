/**
 * Parse scripts per product (CreateThingScript, UpdateThingScript, GetThingScript; docs/protocol/raw-data.md):
 * only for products whose `dataFormat` is `custom`, JavaScript only. Each script runs in its own
 * {@link ScriptSandbox}; an update replaces the sandbox at once (the platform takes about a minute).
 */
import { ApiErrors } from '../errors';
import type { FileStore } from '../http/files';
import type { Registry } from '../registry';
import { ScriptSandbox, type ScriptFunction, type ScriptResult } from './sandbox';

/** What runs a product's script: the sandbox, or (bench/raw.ts's baseline only) plain functions. */
export interface ScriptRunner {
  load(): Promise<ScriptResult<string[]>>;
  call<T>(fn: ScriptFunction, arg: unknown, topic?: string): Promise<ScriptResult<T>>;
  close(): Promise<void>;
}

export type ScriptType = 'JavaScript' | 'Python_27' | 'PHP_72';

export interface ScriptStoreOptions {
  /** Per call; default 1000 ms. */
  timeoutMs?: number;
  /** Per script worker; default 32 MB. */
  maxHeapMb?: number;
  /** Builds the runner of a script; default a {@link ScriptSandbox}. */
  runner?: (code: string) => ScriptRunner;
}

interface Entry {
  type: ScriptType;
  content: string;
  runner: ScriptRunner;
}

export class ThingScripts {
  private readonly scripts = new Map<string, Entry>();

  constructor(
    private readonly registry: Registry,
    private readonly files: FileStore,
    private readonly opts: ScriptStoreOptions = {},
  ) {}

  /** CreateThingScript (`replace` false) and UpdateThingScript (`replace` true). A script that cannot load is refused with its code. */
  async set(productKey: string, type: string, content: string, replace: boolean): Promise<void> {
    const product = this.registry.product(productKey);
    if (!product) throw ApiErrors.productNotFound(productKey);
    if (product.dataFormat !== 'custom') throw ApiErrors.notCustomFormat(productKey);
    if (type !== 'JavaScript') throw ApiErrors.scriptTypeUnsupported(type);
    const old = this.scripts.get(productKey);
    if (old && !replace) throw ApiErrors.scriptExists(productKey);
    if (!old && replace) throw ApiErrors.scriptNotFound(productKey);
    const runner = this.opts.runner?.(content) ?? new ScriptSandbox(content, { timeoutMs: this.opts.timeoutMs, maxHeapMb: this.opts.maxHeapMb });
    const loaded = await runner.load();
    if (!loaded.ok) {
      await runner.close();
      throw ApiErrors.scriptFailed(loaded.code, loaded.message);
    }
    this.scripts.set(productKey, { type, content, runner });
    this.files.put(`script/${productKey}`, Buffer.from(content, 'utf8'), 'application/javascript');
    await old?.runner.close();
  }

  /** GetThingScript: the type and a signed URL of the content. */
  describe(productKey: string): { ScriptType: ScriptType; ScriptUrl: string } {
    if (!this.registry.product(productKey)) throw ApiErrors.productNotFound(productKey);
    const e = this.scripts.get(productKey);
    if (!e) throw ApiErrors.scriptNotFound(productKey);
    return { ScriptType: e.type, ScriptUrl: this.files.url(`script/${productKey}`) };
  }

  /** The runner of a product's script; undefined without one. */
  runner(productKey: string): ScriptRunner | undefined {
    return this.scripts.get(productKey)?.runner;
  }

  async close(): Promise<void> {
    for (const e of this.scripts.values()) await e.runner.close();
  }
}
