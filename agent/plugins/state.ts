/**
 * `ctx.state` for one plugin instance: its namespace of the agent's `plugin_state` table (durable, see
 * agent/storage/state-table.ts) or, for an agent without stores, an in-memory map. Values are kept as their JSON
 * text, so `get` hands out a fresh copy and a value that JSON cannot represent is refused before anything changes.
 */
import { StateError, type PluginState } from '../../handlers/api';
import type { StateTable } from '../storage/state-table';

/** Where the states of an agent's plugins live: a table, or nothing (in-memory maps). */
export type StateBackend = StateTable | undefined;

const RESOLVED = Promise.resolve();

/** The state of plugin `name`: durable in `table`, else in memory. */
export function createPluginState(name: string, table: StateBackend): PluginState {
  return new KeyValueState(name, table);
}

class KeyValueState implements PluginState {
  private readonly values: Map<string, string>;

  constructor(
    private readonly name: string,
    private readonly table: StateBackend,
  ) {
    this.values = table ? table.load(name) : new Map();
  }

  get durable(): boolean {
    return this.table !== undefined;
  }

  get<T = unknown>(key: string): T | undefined {
    const text = this.values.get(key);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  entries(): Array<[string, unknown]> {
    return [...this.values].map(([k, text]) => [k, JSON.parse(text) as unknown]);
  }

  put(entries: Record<string, unknown>): Promise<void> {
    let changes: Array<[string, string]>;
    try {
      changes = Object.entries(entries).map(([key, value]) => [checkKey(this.name, key), toJson(this.name, key, value)]);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    if (changes.length === 0) return RESOLVED;
    for (const [k, text] of changes) this.values.set(k, text);
    return this.table ? this.table.write(this.name, changes) : RESOLVED;
  }

  delete(keys: string | readonly string[]): Promise<void> {
    const list = typeof keys === 'string' ? [keys] : [...keys];
    try {
      for (const k of list) checkKey(this.name, k);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const present = list.filter((k) => this.values.delete(k));
    if (present.length === 0 || !this.table) return RESOLVED;
    return this.table.write(
      this.name,
      present.map((k): [string, null] => [k, null]),
    );
  }
}

function checkKey(plugin: string, key: unknown): string {
  if (typeof key !== 'string' || key === '') {
    throw new StateError('PLUGIN_STATE_INVALID', `plugin "${plugin}" state: key: expected a non-empty string, received ${JSON.stringify(key) ?? String(key)}`);
  }
  return key;
}

function toJson(plugin: string, key: string, value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw new StateError('PLUGIN_STATE_INVALID', `plugin "${plugin}" state: ${key}: expected a JSON value, received one JSON.stringify refuses (${(e as Error).message})`);
  }
  if (text === undefined) throw new StateError('PLUGIN_STATE_INVALID', `plugin "${plugin}" state: ${key}: expected a JSON value, received ${typeof value}`);
  return text;
}
