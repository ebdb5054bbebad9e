/**
 * OTA topics of one device, gateway or sub-device alike (docs/protocol/ota.md). The `/ota/device/...` messages are
 * not full Alink requests (no `method`, no `version`); the `/sys/...` ones are.
 */
import type { DeviceIdentity } from './topics';

export function otaTopics(id: DeviceIdentity) {
  const own = `${id.productKey}/${id.deviceName}`;
  const sys = `/sys/${own}`;
  return {
    /** Device → cloud: the version of one module. */
    inform: `/ota/device/inform/${own}`,
    /** Cloud → device: an upgrade notice. */
    upgrade: `/ota/device/upgrade/${own}`,
    /** Device → cloud: step 1..100, or a negative failure step. */
    progress: `/ota/device/progress/${own}`,
    /** Device → cloud, legacy pull; answered on `upgrade`. */
    request: `/ota/device/request/${own}`,
    firmwareGet: `${sys}/thing/ota/firmware/get`,
    firmwareGetReply: `${sys}/thing/ota/firmware/get_reply`,
    fileDownload: `${sys}/thing/file/download`,
    fileDownloadReply: `${sys}/thing/file/download_reply`,
  };
}

export type OtaTopics = ReturnType<typeof otaTopics>;

/** Progress steps that report a failure. */
export const OtaStep = {
  UPGRADE_FAILED: -1,
  DOWNLOAD_FAILED: -2,
  VERIFY_FAILED: -3,
  FLASH_FAILED: -4,
} as const;

/** The `code` of an upgrade notice the platform pushes. */
export const OTA_NOTICE_CODE = '1000';
