/**
 * Built-in `property-store`: owns every read-write property no other plugin claims, keeps the values the
 * cloud sets, persists them under its data directory (a JSON file replaced atomically: temp file + rename,
 * coalesced so that a burst of sets costs one write, never a synchronous write per message), and reports the
 * current values with a property post when it starts.
 *
 * Options: `file` (default `properties.json`, relative to the plugin's data directory), `initial` (values used
 * until the cloud sets others), `saveDelayMs` (coalescing window, default 200), `reportOnStart` (default true).
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { Logger } from 'pino';
import { definePlugin, type PluginContext } from '../api';

export interface PropertyStoreOptions {
  file: string;
  initial?: Record<string, unknown>;
  saveDelayMs: number;
  reportOnStart: boolean;
}

const FORMAT = 1;

export const propertyStorePlugin = definePlugin<PropertyStoreOptions>({
  name: 'property-store',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      file: { type: 'string', minLength: 1, default: 'properties.json' },
      initial: { type: 'object' },
      saveDelayMs: { type: 'integer', minimum: 0, default: 200 },
      reportOnStart: { type: 'boolean', default: true },
    },
  },
  setup(ctx) {
    const o = ctx.options;
    const file = new JsonFile(isAbsolute(o.file) ? o.file : join(ctx.dataDir, o.file), o.saveDelayMs, ctx.logger);
    const values: Record<string, unknown> = {};
    return {
      properties: {
        ids: '*',
        apply(set) {
          Object.assign(values, set);
          file.scheduleSave(values);
        },
        get(ids) {
          const out: Record<string, unknown> = {};
          for (const id of ids) if (id in values) out[id] = values[id];
          return out;
        },
      },
      async start(c) {
        Object.assign(values, await initialValues(c, await file.load()));
        if (c.options.reportOnStart && Object.keys(values).length > 0) {
          // Not awaited: the agent connects after the plugins started; the post waits in the outbox/session.
          c.upstream.postProperties({ ...values }).catch((err: unknown) => c.logger.warn({ err }, 'reporting stored properties failed'));
        }
      },
      stop() {
        return file.flush();
      },
    };
  },
});

/** Config `initial` values under persisted ones, each checked against the Thing Model. */
async function initialValues(ctx: PluginContext<PropertyStoreOptions>, stored: Record<string, unknown>): Promise<Record<string, unknown>> {
  const owned = new Set(ctx.ownedProperties());
  const out: Record<string, unknown> = {};
  for (const [id, v] of Object.entries(ctx.options.initial ?? {})) {
    const r = ctx.model.validatePropertySet({ [id]: v });
    if (!r.ok) throw new Error(`option "initial.${id}": ${r.message}`);
    if (owned.has(id)) out[id] = v;
  }
  for (const [id, v] of Object.entries(stored)) {
    if (!owned.has(id)) continue;
    const r = ctx.model.validatePropertySet({ [id]: v });
    if (r.ok) out[id] = v;
    else ctx.logger.warn({ property: id, reason: r.message }, 'stored value no longer fits the Thing Model; dropped');
  }
  return out;
}

/** One JSON file, replaced atomically; writes are coalesced and never overlap. */
class JsonFile {
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private latest: Record<string, unknown> | undefined;

  constructor(
    private readonly path: string,
    private readonly delayMs: number,
    private readonly logger: Logger,
  ) {}

  async load(): Promise<Record<string, unknown>> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
    try {
      const doc = JSON.parse(text) as { format?: unknown; values?: unknown };
      if (doc.format === FORMAT && doc.values && typeof doc.values === 'object' && !Array.isArray(doc.values)) return doc.values as Record<string, unknown>;
    } catch {
      // fall through
    }
    this.logger.warn({ file: this.path }, 'property file is unreadable; starting without stored values');
    return {};
  }

  scheduleSave(values: Record<string, unknown>): void {
    this.latest = values;
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.save();
    }, this.delayMs);
  }

  /** Writes pending changes now and waits for every write to finish. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      await this.save();
    }
    await this.writing;
  }

  private save(): Promise<void> {
    const values = this.latest;
    if (!values) return this.writing;
    this.latest = undefined;
    const text = JSON.stringify({ format: FORMAT, values }) + '\n';
    this.writing = this.writing.then(async () => {
      const tmp = `${this.path}.tmp-${process.pid}`;
      try {
        await writeFile(tmp, text);
        await rename(tmp, this.path);
      } catch (err) {
        this.logger.error({ err, file: this.path }, 'saving properties failed');
      }
    });
    return this.writing;
  }
}
