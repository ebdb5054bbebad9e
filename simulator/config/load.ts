/**
 * Reads and validates simulator.config.json. Errors are ConfigError values whose message is one line naming the
 * key, the expected and the received value.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { shown } from '../errors';
import { createAjv, firstProblem } from '../schema-errors';
import { configSchema, SimulatorConfig, SimulatorConfigInput } from './schema';

export interface ConfigProblem {
  path: string;
  message: string;
}

export class ConfigError extends Error {
  readonly code = 'SIM_CONFIG_INVALID';
  constructor(
    readonly source: string,
    readonly problems: ConfigProblem[],
  ) {
    super(problems.map((p) => `${source}: ${p.path ? `${p.path}: ` : ''}${p.message}`).join('; '));
    this.name = 'ConfigError';
  }
}

const validateSchema = createAjv().compile(configSchema);

function problem(source: string, path: string, expected: string, received: unknown): ConfigError {
  // A mistyped secret is still a secret: say what kind of value it was, not what it was.
  const hidden = /(secret|password)$/i.test(path) && received !== undefined ? `a ${Array.isArray(received) ? 'list' : typeof received} (not shown)` : shown(received);
  return new ConfigError(source, [{ path, message: `expected ${expected}, received ${hidden}` }]);
}

/**
 * Validates a config object (a deep copy is made; defaults are filled in). Relative TSL paths are resolved
 * against `baseDir`. Throws ConfigError.
 */
export function validateConfig(input: unknown, opts: { source?: string; baseDir?: string } = {}): SimulatorConfig {
  const source = opts.source ?? 'config';
  const copy: unknown = input === undefined ? undefined : structuredClone(input);
  if (!validateSchema(copy)) {
    const p = firstProblem(validateSchema);
    throw problem(source, p.path.join('.'), p.expected, p.received);
  }
  const cfg = copy as unknown as SimulatorConfig;
  const baseDir = opts.baseDir ?? process.cwd();
  cfg.products = cfg.products.map((p) => ({ ...p, tsl: isAbsolute(p.tsl) ? p.tsl : resolve(baseDir, p.tsl) }));

  if (cfg.mqtt.mode === 'external' && !cfg.mqtt.url) {
    throw problem(source, 'mqtt.url', 'an MQTT URL when mqtt.mode is "external"', undefined);
  }
  if (cfg.mqtt.keepaliveMin > cfg.mqtt.keepaliveMax) {
    throw problem(source, 'mqtt.keepaliveMin', `at most mqtt.keepaliveMax (${cfg.mqtt.keepaliveMax})`, cfg.mqtt.keepaliveMin);
  }
  const akIds = new Set<string>();
  cfg.accessKeys.forEach((k, i) => {
    if (akIds.has(k.id)) throw problem(source, `accessKeys.${i}.id`, 'an id not used by another access key', k.id);
    akIds.add(k.id);
  });
  const devices = new Set<string>();
  cfg.devices.forEach((d, i) => {
    const key = `${d.productKey}/${d.deviceName}`;
    if (devices.has(key)) throw problem(source, `devices.${i}.deviceName`, `a name not used twice in product ${d.productKey}`, d.deviceName);
    devices.add(key);
  });
  return cfg;
}

/** Reads a config file as JSON, unvalidated. Throws ConfigError when it cannot be read or parsed. */
export function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, [{ path: '', message: `cannot read the file: ${(e as Error).message}` }]);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, [{ path: '', message: `expected JSON, received text that does not parse (${(e as Error).message})` }]);
  }
}

/** Reads and validates a config file; TSL paths are relative to the file's folder. Throws ConfigError. */
export function loadConfigFile(file: string): SimulatorConfig {
  return validateConfig(readConfigFile(file) as SimulatorConfigInput, { source: file, baseDir: dirname(resolve(file)) });
}
