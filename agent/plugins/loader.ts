/**
 * Loads, checks, starts, stops and reloads the plugins of one agent. Errors are single lines naming the
 * plugin (and the option key or identifier); every hook runs under a time limit.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import Ajv from 'ajv';
import type { Logger } from 'pino';
import type { CompiledThingModel } from '../../thing-model';
import type { DeviceIdentity } from '../../thing-model/wire';
import type { GatewayApi, PluginContext, PluginInstance, PluginState, Upstream } from '../../handlers/api';
import { PluginError } from './errors';
import { HandlerRegistry, type PluginSlot } from './registry';
import { createPluginState, type StateBackend } from './state';
import { compileOptions, firstLine, resolvePlugin, withPropertyStore, type AnyPlugin, type PluginConfig } from './resolve';

export { PluginError };
export type { PluginConfig };

export interface LoadContext {
  model: CompiledThingModel;
  identity: DeviceIdentity;
  logger: Logger;
  /** The agent's data directory; each plugin gets `{dataDir}/plugins/{name}`. */
  dataDir: string;
  /** Where package names and module paths are resolved from (the config file's directory). */
  configDir: string;
  /**
   * Where `ctx.state` lives: the `plugin_state` table of the agent's database (agent/wiring/stores.ts), or
   * undefined for in-memory maps (an agent without stores).
   */
  state?: StateBackend;
  /** Defaults for plugins that set no limits of their own: 10 s to set up and start, 5 s to stop. */
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
}

/** The loaded plugins of one agent. */
export interface PluginHost {
  /** Who handles what; read by the router. */
  readonly registry: HandlerRegistry;
  /** Instance names, in start order. */
  readonly names: readonly string[];
  /** The loaded instances, in start order (the gateway reads their `subDevices` claims). */
  readonly slots: readonly PluginSlot[];
  /** Starts every plugin in order; on a failure, stops those already started and rejects naming the plugin. */
  start(upstream: Upstream, timeoutMs?: number, gateway?: GatewayApi): Promise<void>;
  /** Stops every plugin in reverse order; failures and timeouts are logged, never thrown. */
  stop(timeoutMs?: number): Promise<void>;
  /**
   * Applies new options (SIGHUP) without reconnecting: the plugin's `reload(options)` hook, or stop + set up +
   * start. Adding or removing plugins, or changing a plugin's claims, needs a restart and is refused.
   */
  reload(configs: PluginConfig[]): Promise<void>;
}

const DEFAULT_START_MS = 10_000;
const DEFAULT_STOP_MS = 5_000;

interface Entry {
  config: PluginConfig;
  plugin: AnyPlugin;
  slot: PluginSlot;
  ctx: Context;
  validate: (options: unknown) => unknown;
  optionsKey: string;
}

/** Loads the configured plugins (plus the property store unless configured), sets them up and checks their claims. */
export async function loadPlugins(configs: PluginConfig[], ctx: LoadContext): Promise<PluginHost> {
  const ajv = new Ajv({ useDefaults: true, allErrors: false, strict: false });
  const entries: Entry[] = [];
  const names = new Map<string, string>();
  for (const [i, config] of withPropertyStore(configs).entries()) {
    const plugin = await resolvePlugin(config, ctx.configDir, `handlers.${i}.module`);
    const name = config.name ?? plugin.name;
    const prev = names.get(name);
    if (prev !== undefined) throw new PluginError('PLUGIN_CONFIG_INVALID', `plugin "${name}" is configured twice (modules ${prev} and ${config.module}); give one a distinct "name"`);
    names.set(name, config.module);
    const validate = compileOptions(ajv, plugin, name);
    const options = validate(config.options);
    const dataDir = join(ctx.dataDir, 'plugins', name);
    await mkdir(dataDir, { recursive: true }).catch((err: Error) => {
      throw new PluginError('PLUGIN_LOAD_FAILED', `plugin "${name}": cannot create its data directory ${dataDir}: ${err.message}`);
    });
    const logger = ctx.logger.child({ plugin: name });
    const slot: PluginSlot = { name, logger, state: 'loaded', instance: {} };
    const pctx = new Context(name, options, logger, dataDir, ctx.model, ctx.identity, createPluginState(name, ctx.state));
    entries.push({ config, plugin, slot, ctx: pctx, validate, optionsKey: stableKey(options) });
  }
  for (const e of entries) e.slot.instance = await setUp(e.plugin, e.ctx, e.slot.name, startLimit(e.plugin, ctx));
  let registry: HandlerRegistry;
  try {
    registry = HandlerRegistry.build(
      entries.map((e) => e.slot),
      ctx.model,
      ctx.identity,
    );
  } catch (err) {
    throw new PluginError('PLUGIN_CLAIM_INVALID', (err as Error).message);
  }
  for (const e of entries) e.ctx.owned = registry.ownedBy.get(e.slot) ?? [];
  return new Host(entries, registry, ctx);
}

class Host implements PluginHost {
  readonly names: readonly string[];
  readonly slots: readonly PluginSlot[];
  private upstream: Upstream | undefined;
  private gateway: GatewayApi | undefined;

  constructor(
    private readonly entries: Entry[],
    readonly registry: HandlerRegistry,
    private readonly ctx: LoadContext,
  ) {
    this.names = entries.map((e) => e.slot.name);
    this.slots = entries.map((e) => e.slot);
  }

  async start(upstream: Upstream, timeoutMs?: number, gateway?: GatewayApi): Promise<void> {
    this.upstream = upstream;
    this.gateway = gateway;
    const started: Entry[] = [];
    for (const e of this.entries) {
      try {
        await this.startOne(e, timeoutMs ?? startLimit(e.plugin, this.ctx));
      } catch (err) {
        e.slot.state = 'stopped';
        e.ctx.abort();
        for (const s of started.reverse()) await this.stopOne(s, stopLimit(s.plugin, this.ctx));
        throw err;
      }
      started.push(e);
    }
  }

  async stop(timeoutMs?: number): Promise<void> {
    for (const e of [...this.entries].reverse()) {
      if (e.slot.state === 'running' || e.slot.state === 'starting') await this.stopOne(e, timeoutMs ?? stopLimit(e.plugin, this.ctx));
    }
  }

  async reload(configs: PluginConfig[]): Promise<void> {
    const next = withPropertyStore(configs);
    const byName = new Map(this.entries.map((e) => [e.slot.name, e]));
    const changes: { entry: Entry; options: unknown; key: string }[] = [];
    const seen = new Set<string>();
    for (const [i, config] of next.entries()) {
      const name = config.name ?? (await resolvePlugin(config, this.ctx.configDir, `handlers.${i}.module`)).name;
      const entry = byName.get(name);
      if (!entry) throw new PluginError('PLUGIN_RELOAD_REFUSED', `reload cannot add plugin "${name}"; restart the agent`);
      if (entry.config.module !== config.module) throw new PluginError('PLUGIN_RELOAD_REFUSED', `reload cannot change the module of plugin "${name}"; restart the agent`);
      seen.add(name);
      const options = entry.validate(config.options);
      const key = stableKey(options);
      if (key !== entry.optionsKey) changes.push({ entry, options, key });
    }
    for (const name of byName.keys()) if (!seen.has(name)) throw new PluginError('PLUGIN_RELOAD_REFUSED', `reload cannot remove plugin "${name}"; restart the agent`);

    // Prepare everything that can fail before changing anything: a refused reload leaves all plugins as they were.
    const prepared = new Map<Entry, { ctx: Context; inst: PluginInstance<unknown> }>();
    for (const { entry, options } of changes) {
      const { slot, plugin } = entry;
      if (slot.instance.reload) continue;
      const ctx = entry.ctx.renew(options);
      const inst = await setUp(plugin, ctx, slot.name, startLimit(plugin, this.ctx));
      if (HandlerRegistry.claimsSignature(inst) !== HandlerRegistry.claimsSignature(slot.instance)) {
        throw new PluginError('PLUGIN_RELOAD_REFUSED', `plugin "${slot.name}": new options change its claims; restart the agent to apply them`);
      }
      prepared.set(entry, { ctx, inst });
    }

    for (const { entry, options, key } of changes) {
      const { slot, plugin } = entry;
      const limit = startLimit(plugin, this.ctx);
      const next = prepared.get(entry);
      if (!next) {
        await withTimeout(Promise.resolve().then(() => slot.instance.reload?.(options)), limit, `plugin "${slot.name}" did not reload within ${limit} ms`, slot.name, 'failed to reload');
        entry.ctx.options = options;
      } else {
        const wasRunning = slot.state === 'running';
        if (wasRunning) await this.stopOne(entry, stopLimit(plugin, this.ctx));
        entry.ctx = next.ctx;
        slot.instance = next.inst;
        if (wasRunning) await this.startOne(entry, limit);
      }
      entry.config = { ...entry.config, options };
      entry.optionsKey = key;
      slot.logger.info('options reloaded');
    }
  }

  private async startOne(e: Entry, limit: number): Promise<void> {
    if (!this.upstream) throw new PluginError('PLUGIN_NOT_STARTED', 'plugins started without an upstream');
    e.ctx.bind(this.upstream, this.gateway);
    e.slot.state = 'starting';
    const inst = e.slot.instance;
    await withTimeout(
      Promise.resolve().then(() => inst.start?.(e.ctx)),
      limit,
      `plugin "${e.slot.name}" did not start within ${limit} ms`,
      e.slot.name,
      'failed to start',
    );
    e.slot.state = 'running';
    e.slot.logger.debug('started');
  }

  private async stopOne(e: Entry, limit: number): Promise<void> {
    e.slot.state = 'stopping';
    e.ctx.abort();
    const inst = e.slot.instance;
    try {
      await withTimeout(Promise.resolve().then(() => inst.stop?.()), limit, `plugin "${e.slot.name}" did not stop within ${limit} ms`, e.slot.name, 'failed to stop');
    } catch (err) {
      e.slot.logger.warn({ err }, (err as Error).message);
    }
    e.slot.state = 'stopped';
  }
}

/** The context object a plugin sees. */
class Context implements PluginContext<unknown> {
  owned: readonly string[] = [];
  private bound: Upstream | undefined;
  private boundGateway: GatewayApi | undefined;
  private readonly controller = new AbortController();

  constructor(
    readonly name: string,
    public options: unknown,
    readonly logger: Logger,
    readonly dataDir: string,
    readonly model: CompiledThingModel,
    readonly identity: DeviceIdentity,
    readonly state: PluginState,
  ) {}

  get upstream(): Upstream {
    if (!this.bound) throw new PluginError('PLUGIN_NOT_STARTED', `plugin "${this.name}": ctx.upstream is usable from start() on, not during setup()`);
    return this.bound;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  ownedProperties(): readonly string[] {
    return this.owned;
  }

  get gateway(): GatewayApi {
    if (!this.boundGateway) throw new PluginError('PLUGIN_NOT_STARTED', `plugin "${this.name}": ctx.gateway is usable from start() on, not during setup()`);
    return this.boundGateway;
  }

  bind(upstream: Upstream, gateway: GatewayApi | undefined): void {
    this.bound = upstream;
    this.boundGateway = gateway;
  }

  abort(): void {
    if (!this.controller.signal.aborted) this.controller.abort(new Error(`plugin "${this.name}" stopped`));
  }

  /** A fresh context (new signal, new options) for setting the plugin up again. */
  renew(options: unknown): Context {
    const c = new Context(this.name, options, this.logger, this.dataDir, this.model, this.identity, this.state);
    c.owned = this.owned;
    c.bound = this.bound;
    c.boundGateway = this.boundGateway;
    return c;
  }
}

async function setUp(plugin: AnyPlugin, ctx: Context, name: string, limit: number): Promise<PluginInstance<unknown>> {
  const inst = await withTimeout(
    Promise.resolve().then(() => plugin.setup(ctx)),
    limit,
    `plugin "${name}" did not set up within ${limit} ms`,
    name,
    'failed to set up',
  );
  if (typeof inst !== 'object' || inst === null) throw new PluginError('PLUGIN_HOOK_FAILED', `plugin "${name}": setup() returned no instance object`);
  return inst as PluginInstance<unknown>;
}

function startLimit(plugin: AnyPlugin, ctx: LoadContext): number {
  return plugin.startTimeoutMs ?? ctx.startTimeoutMs ?? DEFAULT_START_MS;
}

function stopLimit(plugin: AnyPlugin, ctx: LoadContext): number {
  return plugin.stopTimeoutMs ?? ctx.stopTimeoutMs ?? DEFAULT_STOP_MS;
}

/** Races `p` against a timer; failures become `PluginError`s naming the plugin. */
async function withTimeout<T>(p: Promise<T>, ms: number, timeoutMessage: string, name: string, failed = 'failed'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PluginError('PLUGIN_TIMEOUT', timeoutMessage)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } catch (err) {
    if (err instanceof PluginError) throw err;
    throw new PluginError('PLUGIN_HOOK_FAILED', `plugin "${name}" ${failed}: ${firstLine(err instanceof Error ? err.message : String(err))}`);
  } finally {
    clearTimeout(timer);
  }
}

/** A key that is equal for equal JSON values whatever their key order. */
function stableKey(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) =>
    val && typeof val === 'object' && !Array.isArray(val)
      ? Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : val,
  );
}
