/**
 * The upgrade notice's `data` (docs/protocol/ota-platform.md, "The notice"), the same in a push on
 * `/ota/device/upgrade` and in the answer to `thing.ota.firmware.get`. One file: `size, version, url, md5, sign,
 * signMethod, module` (+ `isDiff`, `extData`); several: `files[]` of `{fileName, fileSize, fileUrl, fileSign}`;
 * MQTT download: `dProtocol: "mqtt"`, `streamId`, and `streamFileId` in place of each URL.
 */
import type { Firmware } from './catalog';
import type { OtaJob } from './tasks';

/** How `signMethod` is spelt: `sdk` = "Md5"/"SHA256" (what Alibaba's device SDKs compare against), `doc` = "MD5"/"SHA256". */
export type SignMethodSpelling = 'sdk' | 'doc';

export function signMethodText(fw: Firmware, spelling: SignMethodSpelling): string {
  if (fw.signMethod === 'SHA256') return 'SHA256';
  return spelling === 'doc' ? 'MD5' : 'Md5';
}

/** `extData`: the job's tags and the package's Udi as `_package_udi`; absent when there is neither. */
function extData(fw: Firmware, job: OtaJob): Record<string, string> | undefined {
  const ext: Record<string, string> = Object.fromEntries(job.tags.map((t) => [t.Key, t.Value]));
  if (fw.udi !== undefined) ext._package_udi = fw.udi;
  return Object.keys(ext).length > 0 ? ext : undefined;
}

export function noticeData(fw: Firmware, job: OtaJob, opts: { url(fileIndex: number): string; spelling: SignMethodSpelling }): Record<string, unknown> {
  const mqtt = job.downloadProtocol === 'MQTT';
  const ext = extData(fw, job);
  const common = {
    version: fw.destVersion,
    ...(fw.type === 1 ? { isDiff: 1 } : {}),
    signMethod: signMethodText(fw, opts.spelling),
    module: fw.moduleName,
    ...(mqtt ? { dProtocol: 'mqtt', streamId: job.streamId } : {}),
    ...(ext ? { extData: ext } : {}),
  };
  if (fw.multi) {
    const files = fw.files.map((f, i) => ({ fileName: f.name, fileSize: f.size, ...(mqtt ? { streamFileId: i + 1 } : { fileUrl: opts.url(i) }), fileSign: f.sign }));
    return { ...common, files };
  }
  const f = fw.files[0]!;
  return { size: f.size, ...common, ...(mqtt ? { streamFileId: 1 } : { url: opts.url(0) }), md5: f.md5, sign: f.sign };
}
