/**
 * The plugin side of OTA (docs/ota.md, docs/protocol/ota.md): a plugin that owns firmware or software modules
 * reads their versions and installs the packages the agent has downloaded and verified.
 *
 * The agent does everything before `install`: it takes the platform's job (pushed or pulled), downloads every file
 * of the package to its staging directory (resuming after a dropped link or a restart), checks each file's digest
 * and reports progress. `install` only ever sees complete, verified files.
 */
import type { DeviceIdentity } from '../../thing-model/wire';

/** One verified file of a package, staged on local disk. */
export interface OtaFile {
  /** The file's name in the package (`fileName` of a multi-file package; the URL's last segment otherwise). */
  name: string;
  /** Absolute path of the staged file; it stays there until the job is cleared. */
  path: string;
  size: number;
  /** The digest the platform announced, lower-case hex; the file's bytes matched it. */
  sign: string;
  signMethod: 'md5' | 'sha256';
}

/** The job a package belongs to: what the platform's upgrade notice said. */
export interface OtaJobInfo {
  /** The device the package is for: the gateway itself or one of its sub-devices. */
  device: DeviceIdentity;
  /** The OTA module (`default` when the notice named none). */
  module: string;
  /** The version the module is to run after the install. */
  version: string;
  /** The version the module reported before the job. */
  previousVersion?: string;
  /** True for a differential package: the installer patches the running version. */
  isDiff: boolean;
  /** The job's user pairs (`extData`), as the platform sent them. */
  extData: Record<string, unknown>;
  /** Epoch ms by which `install` must be done; past it `signal` is aborted and the job fails with step -4. */
  deadline: number;
}

/**
 * Reports install progress in percent (0..100) with a short text; the agent maps it into the upper part of the
 * job's progress (the download is the lower part) and throttles what it sends.
 */
export type OtaInstallProgress = (percent: number, desc?: string) => void;

/** What `install` may say about the result. */
export interface OtaInstallResult {
  /**
   * True when the new version runs only after a restart (of the agent, a service, the device) that the installer
   * has scheduled or that someone else makes. The agent then waits: it keeps the job, and after the next start it
   * reads the module's version and informs the platform of it. Default: the version is read again right away.
   */
  restartRequired?: boolean;
}

/**
 * OTA claim: the modules this plugin owns (each must be configured in `ota.modules` with `version: {"plugin":
 * "<this plugin's name>"}`), how to read their versions and how to install a package.
 */
export interface OtaClaim {
  /** Module names, as the platform knows them (`default` for the device's firmware). */
  modules: readonly string[];
  /**
   * The version the module runs now. Called at every start (the agent informs the platform of it once per boot),
   * after an install, and when a job arrives. Throw when it cannot be read: the module is then not informed.
   */
  version(module: string, device: DeviceIdentity): string | Promise<string>;
  /**
   * Installs a verified package. Resolve when it is installed; throw (or let `info.deadline` pass) to fail the job
   * with step -4: the agent reports it, keeps the previous version's state and takes the next job. Honour
   * `signal`: it is aborted at the deadline and when the agent stops.
   */
  install(files: readonly OtaFile[], info: OtaJobInfo, progress: OtaInstallProgress, signal: AbortSignal): void | OtaInstallResult | Promise<void | OtaInstallResult>;
  /**
   * Optional: puts the previous version back. The agent calls it when a new version never came up healthy (it
   * restarted `ota.healthyBoots` times without confirming); the job is then reported failed (step -1).
   */
  rollback?(info: OtaJobInfo, signal: AbortSignal): void | Promise<void>;
}
