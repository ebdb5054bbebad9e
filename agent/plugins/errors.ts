/**
 * The plugin host's error table: every error loading, starting, stopping or reloading plugins can end in, with a
 * stable `code`. Messages are one line naming the plugin (and the option key or identifier).
 */

/** The codes of {@link PluginError}, with what each means (agent/errors/codes.ts and docs/errors.md list them). */
export const PLUGIN_ERROR_CODES = {
  PLUGIN_CONFIG_INVALID: 'a `handlers` entry is malformed, names no plugin, is configured twice, or its options fail the plugin\'s schema',
  PLUGIN_LOAD_FAILED: 'a plugin module could not be imported, or its data directory could not be created',
  PLUGIN_CLAIM_INVALID: 'plugin claims conflict with each other or name what the Thing Model lacks',
  PLUGIN_HOOK_FAILED: 'a plugin\'s setup, start, stop or reload threw, or setup returned no instance',
  PLUGIN_TIMEOUT: 'a plugin\'s setup, start, stop or reload did not finish within its time limit',
  PLUGIN_RELOAD_REFUSED: 'a reload would add, remove or re-module a plugin, or change its claims (needs a restart)',
  PLUGIN_NOT_STARTED: 'the upstream API was used before the plugin was started',
} as const;

export type PluginErrorCode = keyof typeof PLUGIN_ERROR_CODES;

/** A plugin could not be loaded, started or reloaded. The message names it. */
export class PluginError extends Error {
  override readonly name: string = 'PluginError';
  constructor(
    readonly code: PluginErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Thrown when claims conflict or name what the Thing Model lacks (the loader reports it as a `PluginError`). */
export class ClaimError extends PluginError {
  override readonly name = 'ClaimError';
  constructor(message: string) {
    super('PLUGIN_CLAIM_INVALID', message);
  }
}
