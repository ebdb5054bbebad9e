/**
 * The configured sub-devices after validation (docs/protocol/gateway.md, "Configuration"): each one's secret resolved
 * (or left to `thing.sub.register` when `gateway.dynamicRegistration` allows), each product's Thing Model found once
 * (an entry's own `thingModel`, another entry of the product, or `gateway.products`), paths absolute. The rules a
 * schema cannot say; each error names the key.
 */
import { ConfigError, shown } from './errors';
import type { GatewaySection, SubDeviceSection, SubThingModelSection } from './gateway-section';
import type { Secret } from './secret';
import { absolute, resolveSecret, secretKeysOf, type SecretKey } from './secret-source';

/** One configured sub-device, ready for the agent. */
export interface ConfiguredSubDevice {
  productKey: string;
  deviceName: string;
  /** Absent: the agent obtains one with `thing.sub.register`. */
  secret?: Secret;
  secretSource?: SecretKey;
}

/** The gateway section with every product's Thing Model path absolute, configured entries' products included. */
export interface ResolvedGateway extends GatewaySection {
  products: Record<string, SubThingModelSection>;
}

export function resolveSubDevices(
  source: string,
  gateway: GatewaySection,
  entries: readonly SubDeviceSection[],
  self: { productKey: string; deviceName: string },
  baseDir: string,
  env: NodeJS.ProcessEnv,
): { gateway: ResolvedGateway; subDevices: ConfiguredSubDevice[] } {
  const products: Record<string, SubThingModelSection> = {};
  const productFrom: Record<string, string> = {};
  for (const [pk, tm] of Object.entries(gateway.products)) {
    products[pk] = { ...tm, path: absolute(baseDir, tm.path) };
    productFrom[pk] = `gateway.products.${pk}`;
  }
  const seen = new Map<string, number>();
  const out: ConfiguredSubDevice[] = [];
  entries.forEach((e, i) => {
    const at = `subDevices.${i}`;
    const key = `${e.productKey}/${e.deviceName}`;
    if (e.productKey === self.productKey && e.deviceName === self.deviceName) {
      throw new ConfigError(source, at, 'a device behind the gateway, not the gateway itself', shown(key));
    }
    const again = seen.get(key);
    if (again !== undefined) throw new ConfigError(source, at, `each sub-device listed once (subDevices.${again} is ${key} already)`, shown(key));
    seen.set(key, i);
    if (e.thingModel) {
      const tm = { ...e.thingModel, path: absolute(baseDir, e.thingModel.path) };
      const had = products[e.productKey];
      if (had && (had.path !== tm.path || had.enforceStep !== tm.enforceStep || had.partialStructs !== tm.partialStructs)) {
        throw new ConfigError(source, `${at}.thingModel`, `the Thing Model of product ${e.productKey} as ${productFrom[e.productKey]} has it (one per product)`, shown(e.thingModel.path));
      }
      products[e.productKey] = tm;
      productFrom[e.productKey] ??= `${at}.thingModel`;
    }
    const d: ConfiguredSubDevice = { productKey: e.productKey, deviceName: e.deviceName };
    if (secretKeysOf(e).length === 0 && gateway.dynamicRegistration) {
      out.push(d);
      return;
    }
    if (secretKeysOf(e).length === 0) {
      throw new ConfigError(source, at, 'exactly one of secret, secretEnv, secretFile (or gateway.dynamicRegistration: true to register it)', 'none of them');
    }
    const { secret, secretSource } = resolveSecret(source, e, at, 'sub-device secret', baseDir, env);
    out.push({ ...d, secret, secretSource });
  });
  entries.forEach((e, i) => {
    if (!products[e.productKey]) {
      throw new ConfigError(source, `subDevices.${i}.thingModel`, `the Thing Model of product ${e.productKey} (here, on another entry of the product, or in gateway.products)`, 'none');
    }
  });
  for (const pk of Object.keys(gateway.otaModules)) {
    if (!products[pk]) throw new ConfigError(source, `gateway.otaModules.${pk}`, 'a sub-device product with a Thing Model (in gateway.products or on a subDevices entry)', shown(pk));
  }
  return { gateway: { ...gateway, products }, subDevices: out };
}
