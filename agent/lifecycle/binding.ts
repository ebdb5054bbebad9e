/**
 * Finding and loading the notify addon (`native/`, package alink-agent-native). The agent runs from the sources
 * (agent/lifecycle) or from dist/agent/lifecycle, and native/ sits beside either at the package root, so the
 * loader walks up until it finds it rather than trusting one relative path.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LifecycleError, LifecycleErrors } from './errors';

/** What the agent uses of the addon; see native/index.d.ts. */
export type NotifyBinding = Pick<typeof import('../../native'), 'notify' | 'monotonicUsec' | 'path'>;

/** The outcome of loading the addon: it, or why not. */
export type BindingLoad = { ok: true; binding: NotifyBinding } | { ok: false; error: LifecycleError };

const PACKAGE_NAME = 'alink-agent-native';
/** The package root is at most a few levels above this file (dist/agent/lifecycle); the bound ends the walk. */
const MAX_LEVELS = 6;

/** The native/ directory of this installation, or undefined. */
export function findNativeDir(from: string = __dirname): string | undefined {
  let dir = from;
  for (let level = 0; level <= MAX_LEVELS; level++) {
    const candidate = join(dir, 'native');
    const manifest = join(candidate, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME) return candidate;
      } catch {
        // an unreadable manifest is not ours; keep walking
      }
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return undefined;
}

/** The whole addon (native/index.d.ts): the notify calls, and those the OTA download uses (agent/ota/staged-io.ts). */
export type NativeAddon = typeof import('../../native');

/** The outcome of loading the whole addon: it, or why not. */
export type AddonLoad = { ok: true; addon: NativeAddon } | { ok: false; error: LifecycleError };

/** Loads the addon from `dir` (default: the one {@link findNativeDir} finds). Never throws. */
export function loadNativeAddon(dir: string | undefined = findNativeDir()): AddonLoad {
  if (dir === undefined) return { ok: false, error: LifecycleErrors.notifyUnavailable(undefined, `searched from ${__dirname}`) };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the location is only known at run time
    return { ok: true, addon: require(dir) as NativeAddon };
  } catch (err) {
    const first = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? 'unknown error';
    return { ok: false, error: LifecycleErrors.notifyUnavailable(dir, first) };
  }
}

/** The notify part of {@link loadNativeAddon}. Never throws. */
export function loadNotifyBinding(dir: string | undefined = findNativeDir()): BindingLoad {
  const load = loadNativeAddon(dir);
  return load.ok ? { ok: true, binding: load.addon } : load;
}
