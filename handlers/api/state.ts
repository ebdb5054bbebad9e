/**
 * The plugin API, state part: `ctx.state`, a plugin's durable key-value store kept by the agent, and the error
 * its writes may reject with. Re-exported by `handlers/api`.
 */

/**
 * A plugin's key-value state, kept by the agent: namespaced per plugin instance (`ctx.name`), values are JSON.
 *
 * With the default stores (a `dataDir`, agent/wiring/stores.ts) it is a table in the agent's SQLite file: the
 * writes of one loop turn commit together with the inbox's records and the outbox's batch, and `put` / `delete`
 * resolve once one fdatasync of the WAL covers them, so a write whose promise resolved survives kill -9 and a
 * power cut (with `outbox.synchronous: "normal"`, only kill -9). An agent built without stores (`stores: () =>
 * ({})`) gives every plugin an in-memory map instead: `durable` is false and the values are gone on restart.
 *
 * A write is visible to `get` at once; it is durable when its promise resolves. This is what a property
 * handler awaits before it resolves (see {@link PropertyClaim.apply}).
 *
 * ```ts
 * apply: async (values) => {
 *   await ctx.state.put(values); // on disk when this resolves; the agent replies 200 after it
 * },
 * start: () => { const mode = ctx.state.get<number>('WorkMode') ?? 0; },
 * ```
 */
export interface PluginState {
  /** True when writes reach the agent's SQLite file before they resolve; false for the in-memory map. */
  readonly durable: boolean;
  /** The value stored under `key` (a fresh copy), or undefined. */
  get<T = unknown>(key: string): T | undefined;
  /** Every key with its value (fresh copies), in no particular order. */
  entries(): Array<[string, unknown]>;
  /**
   * Stores every entry (key to JSON value) in one atomic write: after a crash either all of them are there or
   * none. Resolves once durable; rejects with `StateError` (`PLUGIN_STATE_INVALID`: a key that is not a non-empty
   * string, a value JSON cannot represent; nothing was written) or the agent's storage error (`STORAGE_FAILED`,
   * `STORAGE_DISK_FULL`: the write may not survive a crash).
   */
  put(entries: Record<string, unknown>): Promise<void>;
  /** Removes keys (absent ones are ignored); durable when it resolves, rejects like `put`. */
  delete(keys: string | readonly string[]): Promise<void>;
}

/**
 * A `ctx.state` write was refused: `PLUGIN_STATE_INVALID` (bad key or value, nothing written) or
 * `PLUGIN_STATE_CLOSED` (the agent's stores were already closed).
 */
export class StateError extends Error {
  override readonly name = 'StateError';
  constructor(
    readonly code: 'PLUGIN_STATE_INVALID' | 'PLUGIN_STATE_CLOSED',
    message: string,
  ) {
    super(message);
  }
}
