/**
 * Which plugin owns a sub-device (docs/protocol/gateway-traffic.md, "Owners"): a plugin naming the device in
 * `subDevices.devices` wins over one claiming its product in `subDevices.products`; among equals the first loaded wins.
 */
import type { DeviceIdentity } from '../../../thing-model/wire';
import type { SubDeviceClaim } from '../../../handlers/api';
import { subDeviceKey } from '../directory';

/** A loaded plugin instance's sub-device claim, with the instance's name. */
export interface OwnedClaim {
  readonly owner: string;
  readonly claim: SubDeviceClaim;
}

/** Resolves owners from the claims of every loaded plugin instance (in load order). */
export class SubDeviceOwners {
  private readonly byDevice = new Map<string, OwnedClaim>();
  private readonly byProduct = new Map<string, OwnedClaim>();

  constructor(claims: readonly OwnedClaim[]) {
    for (const c of claims) {
      for (const d of c.claim.devices ?? []) {
        const k = subDeviceKey(d);
        if (!this.byDevice.has(k)) this.byDevice.set(k, c);
      }
      for (const pk of c.claim.products ?? []) if (!this.byProduct.has(pk)) this.byProduct.set(pk, c);
    }
  }

  /** The owning claim; undefined when no plugin claims the device or its product. */
  ownerOf(device: DeviceIdentity): OwnedClaim | undefined {
    return this.byDevice.get(subDeviceKey(device)) ?? this.byProduct.get(device.productKey);
  }
}
