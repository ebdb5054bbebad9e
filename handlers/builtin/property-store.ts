/**
 * Built-in `property-store`: owns every read-write property no other plugin claims, keeps the values the
 * cloud sets in `ctx.state` (the agent's SQLite file, group-committed with the inbox and the outbox, see
 * handlers/api/state.ts), and reports the current values with a property post when it starts.
 *
 * `apply` resolves once `ctx.state.put` did, that is once the new values are on disk: the router answers 200 only
 * after that, so a value answered 200 survives a kill -9 the next instant (handlers/README.md, "A 200 reply means
 * the new state is durable"). An agent without stores gives it an in-memory `ctx.state`: the values then last as
 * long as the process.
 *
 * Options: `file` (default `properties.json`, relative to the plugin's data directory): the JSON file earlier
 * versions saved to; when present at start with durable state, its values are moved into `ctx.state` once (values
 * already in the state win) and the file is renamed `<file>.migrated`, never written again. `initial` (values
 * used until the cloud sets others), `reportOnStart` (default true). `saveDelayMs` is accepted for old
 * configurations and ignored: nothing is saved later any more.
 */
import { readFile, rename } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { definePlugin, type PluginContext } from '../api';

export interface PropertyStoreOptions {
  file: string;
  initial?: Record<string, unknown>;
  /** Ignored (kept so that configurations written for the JSON file still load). */
  saveDelayMs?: number;
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
      saveDelayMs: { type: 'integer', minimum: 0 },
      reportOnStart: { type: 'boolean', default: true },
    },
  },
  setup(ctx) {
    const values: Record<string, unknown> = {};
    return {
      properties: {
        ids: '*',
        apply(set) {
          Object.assign(values, set);
          // The reply waits for this promise: 200 only once the values are on disk.
          return ctx.state.put(set);
        },
        get(ids) {
          const out: Record<string, unknown> = {};
          for (const id of ids) if (id in values) out[id] = values[id];
          return out;
        },
      },
      async start(c) {
        await migrateLegacyFile(c);
        Object.assign(values, initialValues(c, Object.fromEntries(c.state.entries())));
        if (c.options.reportOnStart && Object.keys(values).length > 0) {
          // Not awaited: the agent connects after the plugins started; the post waits in the outbox/session.
          c.upstream.postProperties({ ...values }).catch((err: unknown) => c.logger.warn({ err }, 'reporting stored properties failed'));
        }
      },
    };
  },
});

/**
 * Moves the values of the JSON file of earlier versions into `ctx.state`, once: the file is renamed after the
 * values are durable, so a crash in between only repeats the (idempotent) move. Without durable state the file is
 * left alone.
 */
async function migrateLegacyFile(ctx: PluginContext<PropertyStoreOptions>): Promise<void> {
  const path = isAbsolute(ctx.options.file) ? ctx.options.file : join(ctx.dataDir, ctx.options.file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!ctx.state.durable) {
    ctx.logger.warn({ file: path }, 'the agent runs without stores: property values live in memory; the old property file is not read');
    return;
  }
  const legacy = parseLegacy(text);
  if (legacy === undefined) ctx.logger.warn({ file: path }, 'old property file is unreadable; not migrated');
  else {
    const fresh = Object.fromEntries(Object.entries(legacy).filter(([id]) => ctx.state.get(id) === undefined));
    await ctx.state.put(fresh);
    ctx.logger.info({ file: path, properties: Object.keys(fresh).length }, 'old property file migrated into the agent database');
  }
  await rename(path, `${path}.migrated`);
}

function parseLegacy(text: string): Record<string, unknown> | undefined {
  try {
    const doc = JSON.parse(text) as { format?: unknown; values?: unknown };
    if (doc.format === FORMAT && doc.values && typeof doc.values === 'object' && !Array.isArray(doc.values)) return doc.values as Record<string, unknown>;
  } catch {
    // fall through
  }
  return undefined;
}

/** Config `initial` values under stored ones, each checked against the Thing Model. */
function initialValues(ctx: PluginContext<PropertyStoreOptions>, stored: Record<string, unknown>): Record<string, unknown> {
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
