/**
 * OTA's error table (docs/ota.md, "Failures"): every failure of a job carries the progress step it is reported
 * with (docs/protocol/ota.md, "Progress"), and a message naming the field or the cause.
 */
import { OtaStep } from '../../thing-model/wire';

export type OtaErrorCode =
  | 'OTA_NOTICE_INVALID'
  | 'OTA_MODULE_UNHANDLED'
  | 'OTA_NO_SPACE'
  | 'OTA_DOWNLOAD_FAILED'
  | 'OTA_URL_EXPIRED'
  | 'OTA_DIGEST_MISMATCH'
  | 'OTA_INSTALL_FAILED'
  | 'OTA_NOT_HEALTHY'
  | 'OTA_VERSION_UNREADABLE'
  | 'OTA_CANCELLED';

export const OTA_ERROR_CODES = {
  OTA_NOTICE_INVALID: 'an upgrade notice or firmware.get answer lacks a field or has one of the wrong form (version, url, sign, signMethod, size, files); reported with step -1',
  OTA_MODULE_UNHANDLED: 'an upgrade notice names a module that no ota.modules entry (gateway.otaModules for a sub-device) configures; reported with step -1 and the module name',
  OTA_NO_SPACE: 'the package is larger than ota.maxPackageBytes or does not fit in the staging directory with ota.reserveBytes left; reported with step -2',
  OTA_DOWNLOAD_FAILED: 'a file could not be downloaded (HTTP status, size, network) within ota.retries attempts; reported with step -2',
  OTA_URL_EXPIRED: 'the signed URL of a file was refused (403/404/410) and asking again (thing.ota.firmware.get) gave no fresh one; reported with step -2',
  OTA_DIGEST_MISMATCH: "a downloaded file's digest differs from the notice's sign; nothing is installed, reported with step -3",
  OTA_INSTALL_FAILED: 'the installer (command or plugin hook) failed or missed ota.installTimeoutMs; the previous version stays, reported with step -4',
  OTA_NOT_HEALTHY: 'the new version did not stay up ota.confirmAfterMs within ota.healthyBoots starts, or reports another version; rolled back, reported with step -1',
  OTA_VERSION_UNREADABLE: "a module's version source (file, command, plugin) failed; the module is not informed",
  OTA_CANCELLED: 'the job was dropped: the platform has no task for it any more, a newer notice replaced it, or the agent stopped; nothing is reported',
} as const satisfies Record<OtaErrorCode, string>;

const STEP: Record<OtaErrorCode, number> = {
  OTA_NOTICE_INVALID: OtaStep.UPGRADE_FAILED,
  OTA_MODULE_UNHANDLED: OtaStep.UPGRADE_FAILED,
  OTA_NO_SPACE: OtaStep.DOWNLOAD_FAILED,
  OTA_DOWNLOAD_FAILED: OtaStep.DOWNLOAD_FAILED,
  OTA_URL_EXPIRED: OtaStep.DOWNLOAD_FAILED,
  OTA_DIGEST_MISMATCH: OtaStep.VERIFY_FAILED,
  OTA_INSTALL_FAILED: OtaStep.FLASH_FAILED,
  OTA_NOT_HEALTHY: OtaStep.UPGRADE_FAILED,
  OTA_VERSION_UNREADABLE: OtaStep.UPGRADE_FAILED,
  OTA_CANCELLED: OtaStep.UPGRADE_FAILED,
};

/** A job that failed (or was dropped); `step` is the negative progress step it is reported with. */
export class OtaError extends Error {
  override readonly name = 'OtaError';
  readonly step: number;
  constructor(
    readonly code: OtaErrorCode,
    message: string,
  ) {
    super(message);
    this.step = STEP[code];
  }
}

export const OtaErrors = {
  invalid: (field: string, expected: string, received: unknown) => new OtaError('OTA_NOTICE_INVALID', `${field}: expected ${expected}, received ${shown(received)}`),
  unhandled: (module: string, key = 'ota.modules') => new OtaError('OTA_MODULE_UNHANDLED', `module "${module}" is not handled by this device (no ${key} entry)`),
  noSpace: (why: string) => new OtaError('OTA_NO_SPACE', why),
  download: (file: string, why: string) => new OtaError('OTA_DOWNLOAD_FAILED', `${file}: download failed: ${why}`),
  expired: (file: string, status: number) => new OtaError('OTA_URL_EXPIRED', `${file}: the URL was refused with HTTP ${status} (expired) and no fresh one came`),
  digest: (file: string, method: string, expected: string, received: string) =>
    new OtaError('OTA_DIGEST_MISMATCH', `${file}: expected ${method} ${expected}, received ${received}; nothing installed`),
  install: (why: string) => new OtaError('OTA_INSTALL_FAILED', `install failed: ${why}; the previous version is kept`),
  notHealthy: (why: string) => new OtaError('OTA_NOT_HEALTHY', why),
  version: (module: string, why: string) => new OtaError('OTA_VERSION_UNREADABLE', `module "${module}": version not readable: ${why}`),
  cancelled: (why: string) => new OtaError('OTA_CANCELLED', why),
};

function shown(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Signed URLs carry their signature in the query: logs and messages show host and path only. */
export function urlForLog(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'an invalid URL';
  }
}

export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
