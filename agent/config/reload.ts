/**
 * What a SIGHUP may change: read from the schema itself. Every top-level key of `agentConfigSchema` carries a
 * `reload` annotation, `'live'` (applied by `Agent.reload()`) or `'restart'` (read once, at start); this module
 * compares the resolved configurations under the restart-only keys and names what changed, so the rule lives in
 * one place and a new key cannot be forgotten (test/agent-reload.test.ts fails on a key without one).
 */
import { agentConfigSchema } from './schema';
import { Secret } from './secret';

/** How a key takes a new value: at once on reload, or only after a restart. */
export type ReloadRule = 'live' | 'restart';

interface SchemaNode {
  reload?: ReloadRule;
  properties?: Record<string, SchemaNode>;
}

const topLevel = (agentConfigSchema as SchemaNode).properties ?? {};

/** The rule of every top-level key (`$schema`, a comment for editors, has none). */
export function reloadRules(): Record<string, ReloadRule | undefined> {
  const out: Record<string, ReloadRule | undefined> = {};
  for (const [key, node] of Object.entries(topLevel)) if (key !== '$schema') out[key] = node.reload;
  return out;
}

/**
 * The keys (dotted paths, e.g. `broker.keepalive`, `device.secret`) whose resolved values differ between two
 * configurations and that apply only after a restart. Secrets are compared by their real value (a changed
 * `secretFile` content counts); the result holds key names only, never a value, so it is safe to log.
 */
export function restartOnlyChanges(current: object, next: object): string[] {
  const changed: string[] = [];
  for (const [key, node] of Object.entries(topLevel)) {
    if (node.reload !== 'restart') continue;
    diff(key, node, (current as Record<string, unknown>)[key], (next as Record<string, unknown>)[key], changed);
  }
  return changed;
}

/** Recurses along the schema's own `properties` (so derived fields such as `broker.host` are not reported twice). */
function diff(path: string, node: SchemaNode, a: unknown, b: unknown, out: string[]): void {
  if (node.properties && isObject(a) && isObject(b)) {
    for (const [key, child] of Object.entries(node.properties)) diff(`${path}.${key}`, child, a[key], b[key], out);
    return;
  }
  if (!same(a, b)) out.push(path);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Secret);
}

function same(a: unknown, b: unknown): boolean {
  if (a instanceof Secret || b instanceof Secret) return a instanceof Secret && b instanceof Secret && a.reveal() === b.reveal();
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => same(v, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].every((k) => same(a[k], b[k]));
  }
  return Object.is(a, b);
}
