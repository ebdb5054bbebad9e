/**
 * Reads and validates agent.config.json once, at start: schema (ajv, compiled once), then the rules a schema
 * cannot say (exactly one secret source, URL scheme, TLS-only keys). Relative paths are resolved against the
 * config file's folder. Everything fails with a ConfigError whose message is one line naming the key.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Ajv from 'ajv';
import { ConfigError, firstSchemaError, shown } from './errors';
import {
  agentConfigSchema,
  AgentConfigFile,
  AgentConfigInput,
  BrokerSection,
} from './schema';
import { Secret } from './secret';
import { absolute, resolveSecret } from './secret-source';
import { resolveSubDevices, type ConfiguredSubDevice, type ResolvedGateway } from './sub-devices';

/** The validated configuration the agent runs with: defaults applied, paths absolute, secret resolved. */
export interface AgentConfig extends Omit<AgentConfigFile, 'device' | 'broker' | 'gateway' | 'subDevices'> {
  /** Sub-device sessions; `products` holds every sub-device product's Thing Model (paths absolute). */
  gateway: ResolvedGateway;
  /** The configured sub-devices, secrets resolved (absent: obtained by registration). */
  subDevices: ConfiguredSubDevice[];
  device: {
    productKey: string;
    deviceName: string;
    clientId?: string;
    secret: Secret;
    /** Which key the secret came from; for logs. */
    secretSource: 'secret' | 'secretEnv' | 'secretFile';
  };
  broker: BrokerSection & {
    /** `mqtt:` or `mqtts:`. */
    scheme: 'mqtt' | 'mqtts';
    host: string;
    port: number;
    /** Alink `securemode`: 2 over TLS, 3 over plain TCP. */
    secureMode: 2 | 3;
  };
  /** The folder relative paths were resolved against (plugin module paths too). */
  configDir: string;
  /** How errors name this configuration: the file path as given, or `config`. */
  source: string;
}

export interface ValidateOptions {
  /** Names the configuration in errors; defaults to `config`. */
  source?: string;
  /** Folder for relative paths; defaults to the working directory. */
  baseDir?: string;
  /** Where `device.secretEnv` is looked up; defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
}

function createValidator() {
  const ajv = new Ajv({ allErrors: false, useDefaults: true, verbose: true, strict: true, coerceTypes: false });
  ajv.addKeyword({ keyword: 'expected', schemaType: 'string' });
  // an annotation for agent/config/reload.ts; it validates nothing
  ajv.addKeyword({ keyword: 'reload', schemaType: 'string' });
  return ajv.compile(agentConfigSchema);
}

let validator: ReturnType<typeof createValidator> | undefined;

/** Compiled on first use, then shared: a compiled schema is immutable, so sharing it is not shared state. */
function schemaValidator() {
  validator ??= createValidator();
  return validator;
}

function parseBroker(source: string, broker: BrokerSection, baseDir: string): AgentConfig['broker'] {
  let url: URL;
  try {
    url = new URL(broker.url);
  } catch {
    throw new ConfigError(source, 'broker.url', 'an mqtt:// or mqtts:// URL such as "mqtt://127.0.0.1:1883"', shown(broker.url));
  }
  const scheme = url.protocol.slice(0, -1);
  if ((scheme !== 'mqtt' && scheme !== 'mqtts') || url.hostname === '' || url.pathname.replace(/^\/$/, '') !== '' || url.username || url.password) {
    throw new ConfigError(source, 'broker.url', 'an mqtt:// or mqtts:// URL such as "mqtt://127.0.0.1:1883"', shown(broker.url));
  }
  const port = url.port ? Number(url.port) : scheme === 'mqtts' ? 8883 : 1883;
  const out: AgentConfig['broker'] = {
    ...broker,
    scheme,
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    secureMode: scheme === 'mqtts' ? 2 : 3,
  };
  if (broker.caFile !== undefined) {
    if (scheme !== 'mqtts') throw new ConfigError(source, 'broker.caFile', 'no CA file with an mqtt:// URL (TLS is off; use mqtts://)', shown(broker.caFile));
    out.caFile = absolute(baseDir, broker.caFile);
    try {
      accessSync(out.caFile, constants.R_OK);
    } catch (e) {
      throw new ConfigError(source, 'broker.caFile', 'a readable PEM file', `${shown(broker.caFile)} (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
  }
  if (broker.sessionExpirySeconds !== undefined && broker.protocolVersion !== 5) {
    throw new ConfigError(source, 'broker.sessionExpirySeconds', 'no session expiry with protocolVersion 4 (it is an MQTT 5 property)', shown(broker.sessionExpirySeconds));
  }
  if (broker.reconnect.initialMs > broker.reconnect.maxMs) {
    throw new ConfigError(source, 'broker.reconnect.initialMs', `at most broker.reconnect.maxMs (${broker.reconnect.maxMs})`, shown(broker.reconnect.initialMs));
  }
  return out;
}

/**
 * Validates a configuration object (deep-copied; defaults filled in). Throws ConfigError.
 * The returned value is frozen: the agent trusts it from here on.
 */
export function validateConfig(input: unknown, opts: ValidateOptions = {}): AgentConfig {
  const source = opts.source ?? 'config';
  const baseDir = opts.baseDir ?? process.cwd();
  const env = opts.env ?? process.env;
  const copy: unknown = input === undefined ? undefined : structuredClone(input);
  const validate = schemaValidator();
  if (!validate(copy)) throw firstSchemaError(source, validate);
  const file = copy as AgentConfigFile;
  const { secret, secretSource } = resolveSecret(source, file.device, 'device', 'device secret', baseDir, env);
  const device: AgentConfig['device'] = {
    productKey: file.device.productKey,
    deviceName: file.device.deviceName,
    secret,
    secretSource,
  };
  if (file.device.clientId !== undefined) device.clientId = file.device.clientId;
  const gw = resolveSubDevices(source, file.gateway, file.subDevices, file.device, baseDir, env);
  const config: AgentConfig = {
    ...file,
    device,
    gateway: gw.gateway,
    subDevices: gw.subDevices,
    broker: parseBroker(source, file.broker, baseDir),
    thingModel: { ...file.thingModel, path: absolute(baseDir, file.thingModel.path) },
    dataDir: absolute(baseDir, file.dataDir),
    configDir: baseDir,
    source,
  };
  // Handler options stay mutable: the plugin loader fills in their schema defaults.
  for (const [k, v] of Object.entries(config)) if (k !== 'handlers') deepFreeze(v);
  return Object.freeze(config);
}

/** Reads agent.config.json; relative paths are resolved against its folder. Throws ConfigError. */
export function loadConfigFile(file: string, opts: Omit<ValidateOptions, 'source' | 'baseDir'> = {}): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, '', 'a readable JSON file', `an error (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, '', 'JSON', `text that does not parse (${(e as Error).message})`);
  }
  return validateConfig(json, { ...opts, source: file, baseDir: dirname(resolve(file)) });
}

/** Loads a file path or validates an object; what `Agent.create` accepts. */
export function loadConfig(configOrPath: string | AgentConfigInput, opts: Omit<ValidateOptions, 'source'> = {}): AgentConfig {
  return typeof configOrPath === 'string' ? loadConfigFile(configOrPath, opts) : validateConfig(configOrPath, opts);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !(value instanceof Secret) && !Object.isFrozen(value)) {
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
