/**
 * The `ota` section of agent.config.json (docs/ota.md): the modules whose versions the agent informs and whose
 * packages it downloads and installs, and the bounds of that work. Its schema node is here, beside its type, so
 * that schema.ts stays one table of sections.
 */

/** How a module's current version is read. */
export type OtaVersionSource = { file: string } | { command: string } | { plugin: string };

/** One configured OTA module. */
export interface OtaModuleSection {
  /** The module's name as the platform knows it; `default` is the device's firmware. */
  name: string;
  version: OtaVersionSource;
  /** The built-in installer: argv of a program, run with the staged file paths appended. */
  install?: { command: string[] };
  /** Run when a new version never came up healthy (`healthyBoots`), with the job's files appended. */
  rollback?: { command: string[] };
}

export interface OtaSection {
  modules: OtaModuleSection[];
  /** Where packages are staged; relative to `dataDir`. */
  stagingDir: string;
  /** Largest package (all its files together) accepted. */
  maxPackageBytes: number;
  /** Free space the staging file system must keep after a package is staged. */
  reserveBytes: number;
  /** Bytes written between two fsyncs (two blocks are held: one written while the next fills); what a kill -9 can leave on disk unrecorded. */
  blockBytes: number;
  /** Progress is sent every this many percent (and always at 100 and on failure). */
  progressStepPercent: number;
  /** Ask for pending jobs (`thing.ota.firmware.get`) once per start, after the first connect. */
  pullOnStart: boolean;
  /** A download that receives nothing for this long is retried. */
  idleTimeoutMs: number;
  /** Attempts per file after a dropped or stalled connection, before the job fails with -2. */
  retries: number;
  retryDelayMs: number;
  /** Block size of an MQTT (`thing/file/download`) download. */
  mqttBlockBytes: number;
  /** Deadline of one install (command or plugin hook). */
  installTimeoutMs: number;
  /** Deadline of reading one version (command or plugin). */
  versionTimeoutMs: number;
  /** A new version is healthy once the agent runs it connected this long; then the job is cleared. */
  confirmAfterMs: number;
  /** Starts into a new version that may end before it is confirmed healthy, before it is rolled back. */
  healthyBoots: number;
}

const int = (min: number, max: number, dflt: number) => ({ type: 'integer', minimum: min, maximum: max, default: dflt, expected: `integer in [${min}, ${max}]` });
const argv = (what: string) => ({
  type: 'object',
  additionalProperties: false,
  required: ['command'],
  expected: `an object {"command": [program, args...]} (${what})`,
  properties: { command: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1, expected: 'a non-empty string' }, expected: 'a non-empty list: the program, then its arguments' } },
});
const source = (key: string, expected: string) => ({
  type: 'object',
  additionalProperties: false,
  required: [key],
  expected: 'one of {"file": path}, {"command": shell command}, {"plugin": plugin name}',
  properties: { [key]: { type: 'string', minLength: 1, expected } },
});

/** A list of modules: `ota.modules`, and each product's list in `gateway.otaModules` (gateway-section.ts). */
export const otaModulesSchema = {
  type: 'array',
  default: [],
  expected: 'a list of {name, version, install?, rollback?}',
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'version'],
    expected: 'an object {name, version, install?, rollback?}',
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$', expected: 'a module name of letters, digits, _ . -' },
      version: {
        expected: 'one of {"file": path}, {"command": shell command}, {"plugin": plugin name}',
        oneOf: [source('file', 'a file path'), source('command', 'a shell command'), source('plugin', 'a plugin instance name')],
      },
      install: argv('the installer'),
      rollback: argv('the rollback'),
    },
  },
};

/** The schema node of `ota` (schema.ts adds the reload rule). */
export const otaSchema = {
  type: 'object',
  expected: 'an object',
  additionalProperties: false,
  default: {},
  properties: {
    modules: otaModulesSchema,
    stagingDir: { type: 'string', minLength: 1, default: 'ota', expected: 'a directory path' },
    maxPackageBytes: int(1, 2 ** 40, 1024 ** 3),
    reserveBytes: int(0, 2 ** 40, 16 * 1024 * 1024),
    blockBytes: int(4096, 64 * 1024 * 1024, 4 * 1024 * 1024),
    progressStepPercent: int(1, 100, 5),
    pullOnStart: { type: 'boolean', default: true, expected: 'true or false' },
    idleTimeoutMs: int(100, 600_000, 30_000),
    retries: int(0, 1000, 5),
    retryDelayMs: int(0, 600_000, 1000),
    mqttBlockBytes: int(256, 128 * 1024, 5120),
    installTimeoutMs: int(100, 86_400_000, 600_000),
    versionTimeoutMs: int(100, 600_000, 10_000),
    confirmAfterMs: int(0, 3_600_000, 10_000),
    healthyBoots: int(1, 100, 3),
  },
};
