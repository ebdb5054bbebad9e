/**
 * Check: the OTA staging directory (docs/ota.md), when `ota.modules` or `gateway.otaModules` lists any. A package is refused when it does
 * not fit with `ota.reserveBytes` left, so a staging file system with less room than `ota.maxPackageBytes` is
 * worth a warning before the first job arrives. The directory is not created: the agent does that itself.
 */
import { statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { OtaModuleSection, OtaSection } from '../config/schema';
import { formatBytes } from './check-data-dir';
import { errnoCode, ok, warn, type Finding } from './report';

/** `subDevices`: `gateway.otaModules`, whose packages are staged in the same directory. */
export function checkOtaStaging(dataDir: string, ota: OtaSection, subDevices: Readonly<Record<string, readonly OtaModuleSection[]>> = {}): Finding[] {
  const names = [...ota.modules.map((m) => m.name), ...Object.entries(subDevices).flatMap(([pk, list]) => list.map((m) => `${pk}:${m.name}`))];
  if (names.length === 0) return [];
  const dir = join(dataDir, ota.stagingDir);
  // The nearest existing folder is on the file system the staging directory will be on.
  let probe = dir;
  for (let i = 0; i < 64; i++) {
    try {
      const fs = statfsSync(probe);
      const free = fs.bavail * fs.bsize;
      const room = free - ota.reserveBytes;
      const modules = names.join(', ');
      if (room < ota.maxPackageBytes) {
        return [warn('ota', `${dir}: ${formatBytes(free)} free, ${formatBytes(Math.max(0, room))} after ota.reserveBytes: packages larger than that are refused (ota.maxPackageBytes ${formatBytes(ota.maxPackageBytes)}; modules ${modules})`)];
      }
      return [ok('ota', `${dir}: ${formatBytes(free)} free, room for a package of ota.maxPackageBytes ${formatBytes(ota.maxPackageBytes)} (modules ${modules})`)];
    } catch (e) {
      if (errnoCode(e) !== 'ENOENT' || dirname(probe) === probe) return [warn('ota', `${dir}: free space unknown (statfs: ${errnoCode(e)})`)];
      probe = dirname(probe);
    }
  }
  return [warn('ota', `${dir}: free space unknown`)];
}
