/**
 * Whether a sub-device's inbound call may reach a plugin, and the Alink refusal when not
 * (docs/protocol/gateway-traffic.md, "Refusals"). The codes are the platform's own for the same situations, so a cloud
 * caller sees what it would see had the platform refused: unknown → 6100, disabled → 522, not online → 520; a device
 * the agent knows but no plugin drives is refused like a service no plugin implements (400).
 */
import { AlinkCodes } from '../../../thing-model/codes';
import type { DeviceIdentity } from '../../../thing-model/wire';
import type { SubDeviceDirectory, SubDeviceEntry } from '../directory';
import type { OwnedClaim, SubDeviceOwners } from './owners';

export type Admission =
  | { readonly ok: true; readonly entry: SubDeviceEntry; readonly owner: OwnedClaim }
  | { readonly ok: false; readonly code: number; readonly message: string };

export function admit(directory: SubDeviceDirectory, owners: SubDeviceOwners, device: DeviceIdentity): Admission {
  const entry = directory.get(device.productKey, device.deviceName);
  if (!entry) return refused(AlinkCodes.DEVICE_LOOKUP_FAILED, device, ' is not known to this gateway');
  if (entry.state === 'disabled') return refused(AlinkCodes.SUB_DEVICE_DISABLED, device, ' is disabled');
  if (entry.state !== 'online') return refused(AlinkCodes.SUB_DEVICE_SESSION_ERROR, device, ` is not online (${entry.state})`);
  const owner = owners.ownerOf(device);
  if (!owner) return refused(AlinkCodes.REQUEST_ERROR, device, ': no plugin drives it');
  return { ok: true, entry, owner };
}

/** The refusal's message is built only for a refusal: admitting is on the path of every sub-device message. */
function refused(code: number, device: DeviceIdentity, why: string): Admission {
  return { ok: false, code, message: `sub-device ${device.productKey}/${device.deviceName}${why}` };
}
