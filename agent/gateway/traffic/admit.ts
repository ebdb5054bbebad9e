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
  const name = `${device.productKey}/${device.deviceName}`;
  const entry = directory.get(device.productKey, device.deviceName);
  if (!entry) return { ok: false, code: AlinkCodes.DEVICE_LOOKUP_FAILED, message: `sub-device ${name} is not known to this gateway` };
  if (entry.state === 'disabled') return { ok: false, code: AlinkCodes.SUB_DEVICE_DISABLED, message: `sub-device ${name} is disabled` };
  if (entry.state !== 'online') return { ok: false, code: AlinkCodes.SUB_DEVICE_SESSION_ERROR, message: `sub-device ${name} is not online (${entry.state})` };
  const owner = owners.ownerOf(device);
  if (!owner) return { ok: false, code: AlinkCodes.REQUEST_ERROR, message: `sub-device ${name}: no plugin drives it` };
  return { ok: true, entry, owner };
}
