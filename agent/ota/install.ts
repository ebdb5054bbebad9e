/**
 * Installing a verified package (docs/ota.md, "Install"): the built-in installer runs the module's configured
 * command with the staged paths appended (exit 0 = installed); otherwise the plugin that claims the module
 * installs it through its `ota.install` hook. Both get `ota.installTimeoutMs` and an abort signal: the command is
 * killed (SIGTERM, then SIGKILL) at the deadline or when the agent stops.
 */
import { spawn } from 'node:child_process';
import type { OtaFile, OtaInstallProgress, OtaInstallResult, OtaJobInfo } from '../../handlers/api';
import type { OtaModuleSection } from '../config/schema';
import type { HandlerRegistry } from '../plugins/registry';
import { OtaErrors, describe } from './errors';

/** Runs argv + paths; resolves on exit 0, rejects with the exit status and the tail of stderr otherwise. */
export function runCommand(argv: readonly string[], paths: readonly string[], env: Record<string, string>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const [program, ...args] = argv;
    const child = spawn(program!, [...args, ...paths], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-400)));
    const kill = () => {
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 2000).unref();
    };
    signal.addEventListener('abort', kill, { once: true });
    child.once('error', (e) => {
      signal.removeEventListener('abort', kill);
      reject(new Error(`${program}: ${e.message}`));
    });
    child.once('exit', (code, sig) => {
      signal.removeEventListener('abort', kill);
      if (code === 0 && !signal.aborted) return resolve();
      const why = signal.aborted ? describe(signal.reason) : sig ? `killed by ${sig}` : `exit ${code}`;
      reject(new Error(`${program}: ${why}${stderr.trim() ? `: ${stderr.trim()}` : ''}`));
    });
  });
}

export async function install(
  m: OtaModuleSection,
  files: readonly OtaFile[],
  info: OtaJobInfo,
  progress: OtaInstallProgress,
  registry: HandlerRegistry,
  signal: AbortSignal,
): Promise<OtaInstallResult> {
  try {
    if (m.install) {
      await runCommand(m.install.command, files.map((f) => f.path), jobEnv(info), signal);
      return {};
    }
    const slot = registry.otaModules.get(m.name);
    if (!slot) throw new Error(`no installer: module "${m.name}" has no install.command and no plugin claims it`);
    const pending = Promise.resolve(slot.instance.ota!.install(files, info, progress, signal));
    const aborted = new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason as Error);
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    });
    pending.catch(() => undefined);
    return (await Promise.race([pending, aborted])) ?? {};
  } catch (e) {
    throw OtaErrors.install(describe(e));
  }
}

export async function rollback(m: OtaModuleSection, info: OtaJobInfo, paths: readonly string[], registry: HandlerRegistry, signal: AbortSignal): Promise<void> {
  if (m.rollback) return runCommand(m.rollback.command, paths, jobEnv(info), signal);
  const slot = registry.otaModules.get(m.name);
  await slot?.instance.ota!.rollback?.(info, signal);
}

/** What a command learns about its job beyond the paths. */
function jobEnv(info: OtaJobInfo): Record<string, string> {
  return {
    OTA_MODULE: info.module,
    OTA_VERSION: info.version,
    OTA_PREVIOUS_VERSION: info.previousVersion ?? '',
    OTA_IS_DIFF: info.isDiff ? '1' : '0',
    OTA_PRODUCT_KEY: info.device.productKey,
    OTA_DEVICE_NAME: info.device.deviceName,
  };
}
