/**
 * Check 1: the configuration, through the agent's own loader (so a FAIL line carries the very message `run`
 * prints), and the device secret.
 *
 * A secret that does not resolve is the common case for a doctor run by hand: the variable is set by the systemd
 * unit, not in the operator's shell. So a secret problem fails this check but does not hide the rest: the file is
 * validated once more without its secret source, and every check that does not log in still runs.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { loadConfigFile, validateConfig, type AgentConfig } from '../config/load';
import { ConfigError } from '../config/errors';
import { isPlainObject } from '../../thing-model';
import { errnoCode, fail, ok, warn, type Finding } from './report';

export interface ConfigOutcome {
  findings: Finding[];
  /** The validated configuration; absent when it is invalid beyond its secret. */
  config?: AgentConfig;
  /** False when `config` holds a stand-in secret: the credentials check cannot run. */
  secretResolved: boolean;
}

/** Errors of these keys come from the secret source alone (the loader checks the secret before the broker). */
const SECRET_PATHS = new Set(['device', 'device.secret', 'device.secretEnv', 'device.secretFile']);
/** Never used to sign: a configuration carrying it is only used by checks that do not log in. */
const STAND_IN_SECRET = 'not-resolved';

function readJson(file: string): unknown {
  return JSON.parse(readFileSync(file, 'utf8')) as unknown;
}

/** The `device` section as written, to name where the secret came from. */
function rawDevice(file: string): Record<string, unknown> {
  try {
    const json = readJson(file);
    return isPlainObject(json) && isPlainObject(json.device) ? json.device : {};
  } catch {
    return {};
  }
}

/** Where the secret lives on disk (the config file itself for an inline secret), if it is a file. */
function secretHolder(file: string, config: AgentConfig, device: Record<string, unknown>): string | undefined {
  if (config.device.secretSource === 'secret') return file;
  if (config.device.secretSource === 'secretFile' && typeof device.secretFile === 'string') {
    return isAbsolute(device.secretFile) ? device.secretFile : resolve(config.configDir, device.secretFile);
  }
  return undefined;
}

function describeSource(config: AgentConfig, device: Record<string, unknown>): string {
  switch (config.device.secretSource) {
    case 'secret':
      return 'secret inline in the file';
    case 'secretEnv':
      return `secret from environment variable ${String(device.secretEnv)}`;
    case 'secretFile':
      return `secret from ${String(device.secretFile)}`;
  }
}

/** The loader's validation again, with the secret source replaced by a stand-in. */
function withoutSecret(file: string, env: NodeJS.ProcessEnv): AgentConfig | ConfigError | undefined {
  let json: unknown;
  try {
    json = readJson(file);
  } catch {
    return undefined;
  }
  if (!isPlainObject(json) || !isPlainObject(json.device)) return undefined;
  const { secret: _s, secretEnv: _e, secretFile: _f, ...device } = json.device;
  try {
    return validateConfig({ ...json, device: { ...device, secret: STAND_IN_SECRET } }, { source: file, baseDir: dirname(resolve(file)), env });
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
}

/**
 * Loads `file` as `alink-agent run` does. FAIL lines are the loader's one-line messages; the secret itself is
 * never shown. Warns when the file holding the secret is readable by every user.
 */
export function checkConfig(file: string, env: NodeJS.ProcessEnv): ConfigOutcome {
  let config: AgentConfig;
  try {
    config = loadConfigFile(file, { env });
  } catch (e) {
    if (!(e instanceof ConfigError)) return { findings: [fail('config', `${file}: ${(e as Error).message}`)], secretResolved: false };
    const findings = [fail('config', e.message)];
    if (!SECRET_PATHS.has(e.path)) return { findings, secretResolved: false };
    const rest = withoutSecret(file, env);
    if (rest instanceof ConfigError) return { findings: [...findings, fail('config', rest.message)], secretResolved: false };
    return rest ? { findings, config: rest, secretResolved: false } : { findings, secretResolved: false };
  }
  const device = rawDevice(file);
  const summary = `${file} valid (device ${config.device.productKey}/${config.device.deviceName}, ${describeSource(config, device)})`;
  const holder = secretHolder(file, config, device);
  if (holder !== undefined) {
    try {
      const mode = statSync(holder).mode & 0o777;
      if (mode & 0o004) {
        const octal = mode.toString(8).padStart(4, '0');
        return { findings: [warn('config', `${summary}, but ${holder} holds the device secret and every user can read it (mode ${octal}): chmod o-r it`)], config, secretResolved: true };
      }
    } catch (e) {
      return { findings: [warn('config', `${summary}, but ${holder} cannot be examined (${errnoCode(e)})`)], config, secretResolved: true };
    }
  }
  return { findings: [ok('config', summary)], config, secretResolved: true };
}
