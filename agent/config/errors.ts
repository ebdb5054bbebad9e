/**
 * Configuration errors: one line naming the file, the key, what was expected and what was received,
 * e.g. `agent.config.json: broker.keepalive: expected integer in [30, 1200], received 10`.
 */
import type { ErrorObject, ValidateFunction } from 'ajv';

/** A configuration problem; `message` is the one line the CLI prints. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(
    /** The file (as the user named it) or `config` for an object. */
    readonly source: string,
    /** Dotted key path, '' for the whole file. */
    readonly path: string,
    readonly expected: string,
    /** How the received value is shown; secrets are never shown. */
    readonly received: string,
  ) {
    super(`${source}: ${path ? `${path}: ` : ''}expected ${expected}, received ${received}`);
    this.name = 'ConfigError';
  }
}

/** Shows a received value: JSON, cut short so that a huge value keeps the line readable. */
export function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  let s: string;
  try {
    s = JSON.stringify(value) ?? String(value);
  } catch {
    s = String(value);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

type SchemaNode = { expected?: string; properties?: Record<string, SchemaNode> };

/** Keys whose values are never echoed in an error. */
const SECRET_KEYS = new Set(['secret']);

/** Turns ajv's first error into a ConfigError naming the key. */
export function firstSchemaError(source: string, validate: ValidateFunction): ConfigError {
  const err: ErrorObject | undefined = validate.errors?.[0];
  if (!err) return new ConfigError(source, '', 'a valid configuration', 'something else');
  const path = err.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const parent = (err.parentSchema ?? {}) as SchemaNode;
  if (err.keyword === 'required') {
    const key = (err.params as { missingProperty: string }).missingProperty;
    const child = parent.properties?.[key];
    return new ConfigError(source, [...path, key].join('.'), child?.expected ?? 'a value', 'nothing');
  }
  if (err.keyword === 'additionalProperties') {
    const key = (err.params as { additionalProperty: string }).additionalProperty;
    const known = Object.keys(parent.properties ?? {}).join(', ');
    const where = path.length ? path.join('.') : 'the top level';
    return new ConfigError(source, [...path, key].join('.'), `a known key of ${where} (${known})`, 'an unknown key');
  }
  const last = path[path.length - 1];
  const received = last !== undefined && SECRET_KEYS.has(last) ? 'a value that is not shown' : shown(err.data);
  return new ConfigError(source, path.join('.'), parent.expected ?? err.message ?? 'a valid value', received);
}
