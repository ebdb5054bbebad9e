/**
 * Finding a plugin and checking its configuration: built-in names, package names and module paths resolved from
 * the config file's directory (module.ts), in-process plugin values, and the plugin's options against its JSON
 * schema (defaults applied).
 */
import type { default as Ajv, ErrorObject } from 'ajv';
import type { AlinkPlugin } from '../../handlers/api';
import { propertyStorePlugin } from '../../handlers/builtin/property-store';
import { systemInfoPlugin } from '../../handlers/builtin/system-info';
import { PluginError } from './errors';
import { firstLine, loadModule, locateModule } from './module';

export { firstLine };

/** One entry of the agent configuration's `handlers` list. */
export interface PluginConfig {
  /**
   * A built-in name (`property-store`, `system-info`), a package name resolved from the config file's directory
   * (as Node resolves it from there), or a path (`./x.js`, `/opt/x`) relative to that directory.
   */
  module: string;
  /** Instance name; defaults to the plugin's own `name`. */
  name?: string;
  options?: unknown;
  /** An in-process plugin value (embedding, tests); `module` is then only its label in errors and reloads. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  plugin?: AlinkPlugin<any>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyPlugin = AlinkPlugin<any>;

const BUILTINS: Record<string, AlinkPlugin<never>> = {
  'property-store': propertyStorePlugin as AlinkPlugin<never>,
  'system-info': systemInfoPlugin as AlinkPlugin<never>,
};

/** The configured plugins plus the property store, which owns every read-write property no other plugin claims. */
export function withPropertyStore(configs: PluginConfig[]): PluginConfig[] {
  if (!Array.isArray(configs)) throw new PluginError('PLUGIN_CONFIG_INVALID', 'handlers: expected a list of {module, name?, options?}');
  const has = configs.some((c) => c.module === 'property-store');
  return has ? configs : [...configs, { module: 'property-store' }];
}

/**
 * The plugin a `handlers` entry names: its in-process value, a built-in, or the module a package name or path
 * names (module.ts). `key` is the entry's config key (`handlers.2.module`), named by every error.
 */
export async function resolvePlugin(config: PluginConfig, configDir: string, key = 'handlers.module'): Promise<AnyPlugin> {
  if (!config || typeof config.module !== 'string' || config.module === '') throw new PluginError('PLUGIN_CONFIG_INVALID', `${key}: every entry needs a "module"`);
  if (config.plugin !== undefined) {
    if (!isPlugin(config.plugin)) throw new PluginError('PLUGIN_CONFIG_INVALID', `plugin "${config.module}": not a plugin (expected an object with "name" and "setup")`);
    return config.plugin;
  }
  const builtin = BUILTINS[config.module];
  if (builtin) return builtin;
  const located = locateModule(config.module, configDir, key);
  const mod = await loadModule(located, config.module, key);
  const plugin = pluginOf(mod);
  if (plugin) return plugin;
  throw new PluginError(
    'PLUGIN_CONFIG_INVALID',
    `${key} "${config.module}": ${located.file} exports no plugin (expected a default export or an export named "plugin": an object with "name" (a string) and "setup" (a function), as definePlugin() returns; it exports ${describeExports(mod)})`,
  );
}

/**
 * The plugin among a module's exports. Checked by shape, never `instanceof`: the plugin may have been built with
 * its own copy of the API. CommonJS `module.exports = plugin` and `exports.default` (TypeScript's output) count.
 */
function pluginOf(mod: unknown): AnyPlugin | undefined {
  const m = mod as { default?: unknown; plugin?: unknown } | null | undefined;
  const candidates = [m?.default, m?.plugin, (m?.default as { default?: unknown } | undefined)?.default, (m?.default as { plugin?: unknown } | undefined)?.plugin, mod];
  return candidates.find(isPlugin);
}

function describeExports(mod: unknown): string {
  if (typeof mod !== 'object' || mod === null) return typeof mod;
  const keys = Object.keys(mod).filter((k) => k !== '__esModule');
  return keys.length === 0 ? 'nothing' : keys.slice(0, 8).map((k) => `"${k}"`).join(', ') + (keys.length > 8 ? ', ...' : '');
}

function isPlugin(x: unknown): x is AnyPlugin {
  return typeof x === 'object' && x !== null && typeof (x as AnyPlugin).name === 'string' && typeof (x as AnyPlugin).setup === 'function';
}

/** A validator of the plugin's options against its schema; it returns a copy with the schema's defaults applied. */
export function compileOptions(ajv: Ajv, plugin: AnyPlugin, name: string): (options: unknown) => unknown {
  const schema = plugin.optionsSchema ?? { type: 'object' };
  let check: ReturnType<Ajv['compile']>;
  try {
    check = ajv.compile(schema);
  } catch (err) {
    throw new PluginError('PLUGIN_CONFIG_INVALID', `plugin "${name}": invalid options schema: ${firstLine((err as Error).message)}`);
  }
  return (options: unknown) => {
    // Defaults are written into the value, so work on a copy of the configuration.
    const value = options === undefined ? {} : structuredClone(options);
    if (!check(value)) throw new PluginError('PLUGIN_CONFIG_INVALID', `plugin "${name}": ${describeOptionError(check.errors?.[0])}`);
    return value;
  };
}

function describeOptionError(e: ErrorObject | undefined): string {
  if (!e) return 'invalid options';
  const path = e.instancePath.split('/').slice(1).join('.');
  if (e.keyword === 'required') {
    const key = path ? `${path}.${String(e.params.missingProperty)}` : String(e.params.missingProperty);
    return `option "${key}" is required`;
  }
  if (e.keyword === 'additionalProperties') {
    const key = path ? `${path}.${String(e.params.additionalProperty)}` : String(e.params.additionalProperty);
    return `option "${key}" is not allowed`;
  }
  return path ? `option "${path}" ${e.message ?? 'is invalid'}` : `options ${e.message ?? 'are invalid'}`;
}
