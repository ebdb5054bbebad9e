/**
 * Reading a module's current version from its configured source (docs/ota.md, "Modules"): a file (its trimmed
 * first line), a shell command (its trimmed stdout, exit 0), or the plugin that claims the module.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import type { DeviceIdentity } from '../../thing-model/wire';
import type { OtaModuleSection } from '../config/schema';
import type { HandlerRegistry } from '../plugins/registry';
import { OtaErrors, describe } from './errors';

export interface VersionContext {
  configDir: string;
  registry: HandlerRegistry;
  timeoutMs: number;
}

/** The module's version; throws OTA_VERSION_UNREADABLE. */
export async function readVersion(m: OtaModuleSection, device: DeviceIdentity, ctx: VersionContext): Promise<string> {
  let v: string;
  try {
    v = await read(m, device, ctx);
  } catch (e) {
    throw OtaErrors.version(m.name, describe(e));
  }
  if (v === '') throw OtaErrors.version(m.name, 'empty');
  if (v.length > 64) throw OtaErrors.version(m.name, `longer than 64 characters: ${v.slice(0, 64)}...`);
  return v;
}

async function read(m: OtaModuleSection, device: DeviceIdentity, ctx: VersionContext): Promise<string> {
  const src = m.version;
  if ('file' in src) {
    const path = isAbsolute(src.file) ? src.file : resolve(ctx.configDir, src.file);
    return ((await readFile(path, 'utf8')).split('\n')[0] ?? '').trim();
  }
  if ('command' in src) return run(src.command, ctx.timeoutMs);
  const slot = ctx.registry.otaModules.get(m.name);
  if (!slot || slot.name !== src.plugin) throw new Error(`plugin "${src.plugin}" does not claim module "${m.name}" in its ota.modules`);
  const signal = AbortSignal.timeout(ctx.timeoutMs);
  const got = slot.instance.ota!.version(m.name, device);
  const v = await Promise.race([
    Promise.resolve(got),
    new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error(`no answer within ${ctx.timeoutMs} ms (ota.versionTimeoutMs)`)), { once: true })),
  ]);
  if (typeof v !== 'string') throw new Error(`plugin "${src.plugin}" returned ${typeof v}, not a string`);
  return v.trim();
}

function run(command: string, timeoutMs: number): Promise<string> {
  return new Promise((resolveRun, reject) => {
    execFile('/bin/sh', ['-c', command], { timeout: timeoutMs, maxBuffer: 64 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command}: ${err.killed ? `no answer within ${timeoutMs} ms (ota.versionTimeoutMs)` : `exit ${String(err.code)}`}${stderr ? `: ${stderr.trim().slice(0, 200)}` : ''}`));
      else resolveRun(stdout.split('\n')[0]!.trim());
    });
  });
}
