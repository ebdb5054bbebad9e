/**
 * Resolves a secret given as exactly one of `secret`, `secretEnv`, `secretFile`: the gateway's own (`device`) and each
 * configured sub-device's (`subDevices.N`). Errors name the key; the secret itself is never shown.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { ConfigError, shown } from './errors';
import { Secret } from './secret';

export interface SecretSource {
  secret?: string | undefined;
  secretEnv?: string | undefined;
  secretFile?: string | undefined;
}

export type SecretKey = 'secret' | 'secretEnv' | 'secretFile';

const SECRET_KEYS = ['secret', 'secretEnv', 'secretFile'] as const;

export function absolute(baseDir: string, p: string): string {
  return isAbsolute(p) ? p : resolve(baseDir, p);
}

/** The keys of the three that are set. */
export function secretKeysOf(holder: SecretSource): SecretKey[] {
  return SECRET_KEYS.filter((k) => holder[k] !== undefined);
}

/** The secret of `holder`, found at `at` (`device`, `subDevices.2`); `what` names it in errors ("device secret"). */
export function resolveSecret(source: string, holder: SecretSource, at: string, what: string, baseDir: string, env: NodeJS.ProcessEnv): { secret: Secret; secretSource: SecretKey } {
  const present = secretKeysOf(holder);
  const [key] = present;
  if (present.length !== 1 || key === undefined) {
    throw new ConfigError(source, at, 'exactly one of secret, secretEnv, secretFile', present.length === 0 ? 'none of them' : present.join(' and '));
  }
  if (key === 'secret') return { secret: new Secret(holder.secret as string), secretSource: key };
  if (key === 'secretEnv') {
    const name = holder.secretEnv as string;
    const value = env[name];
    if (value === undefined || value.trim() === '') {
      throw new ConfigError(source, `${at}.secretEnv`, 'the name of a set, non-empty environment variable', `${shown(name)} (not set)`);
    }
    return { secret: new Secret(value.trim()), secretSource: key };
  }
  const file = absolute(baseDir, holder.secretFile as string);
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new ConfigError(source, `${at}.secretFile`, `a readable file holding the ${what}`, `${shown(holder.secretFile)} (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  if (text === '') throw new ConfigError(source, `${at}.secretFile`, `a file holding the ${what}`, `${shown(holder.secretFile)} (empty)`);
  return { secret: new Secret(text), secretSource: key };
}
