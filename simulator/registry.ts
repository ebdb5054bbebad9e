/**
 * Products (with their compiled Thing Models) and devices (with their secrets and IotIds) known to one simulator.
 * RegisterDevice adds devices at run time, DeleteDevice removes them; nothing is persisted.
 */
import { createHash, randomBytes } from 'node:crypto';
import { compileThingModel, CompiledThingModel, loadThingModelFile } from '../thing-model';
import { ConfigError } from './config/load';
import type { SimulatorConfig } from './config/schema';
import { ApiErrors } from './errors';

export interface ProductRecord {
  productKey: string;
  model: CompiledThingModel;
  /** `custom`: bytes on `thing/model/*_raw`, through the product's parse script (docs/protocol/raw-data.md). */
  dataFormat: 'alink' | 'custom';
  nodeType: 'direct' | 'gateway' | 'sub';
  dynamicRegistration: boolean;
  /** The product's secret, for registration by product (`thing.proxy.provisioning.product_register`). */
  productSecret?: string;
}

export interface DeviceRecord {
  productKey: string;
  deviceName: string;
  deviceSecret: string;
  iotId: string;
  nickname?: string;
  /** DisableThing: kept, but it may not connect and its gateway may not log it in (docs/protocol/gateway-platform.md). */
  disabled?: boolean;
}

export const DEVICE_NAME_RE = /^[A-Za-z0-9_@.:-]{4,32}$/;

/** A stable, opaque IotId for a device: the same pk/dn always gets the same id. */
function iotIdOf(productKey: string, deviceName: string): string {
  return createHash('sha256').update(`${productKey}/${deviceName}`).digest('base64url').slice(0, 20) + '000100';
}

export class Registry {
  private readonly products = new Map<string, ProductRecord>();
  private readonly devices = new Map<string, DeviceRecord>();
  private readonly byIotId = new Map<string, DeviceRecord>();
  /** Told of every device registered, deleted, disabled or enabled at run time (the managed broker rewrites its device file). */
  onChange?: () => void;

  /** Loads every product's TSL; a bad TSL or a device of an unknown product throws ConfigError. */
  constructor(cfg: Pick<SimulatorConfig, 'products' | 'devices'>, source = 'config') {
    cfg.products.forEach((p, i) => {
      let model: CompiledThingModel;
      try {
        model = compileThingModel(loadThingModelFile(p.tsl));
      } catch (e) {
        const problems = (e as { problems?: { path: string; message: string }[] }).problems;
        const first = problems?.[0];
        const detail = first ? `${first.path}: ${first.message}` : (e as Error).message;
        throw new ConfigError(source, [{ path: `products.${i}.tsl`, message: `expected a valid TSL file, received ${p.tsl} (${detail})` }]);
      }
      const productKey = p.productKey ?? model.model.productKey;
      if (this.products.has(productKey)) {
        throw new ConfigError(source, [{ path: `products.${i}.productKey`, message: `expected a product key not used twice, received "${productKey}"` }]);
      }
      this.products.set(productKey, { productKey, model, dataFormat: p.dataFormat ?? 'alink', nodeType: p.nodeType ?? 'direct', dynamicRegistration: p.dynamicRegistration ?? false, ...(p.productSecret ? { productSecret: p.productSecret } : {}) });
    });
    cfg.devices.forEach((d, i) => {
      if (!this.products.has(d.productKey)) {
        const known = [...this.products.keys()].join(', ') || 'none';
        throw new ConfigError(source, [{ path: `devices.${i}.productKey`, message: `expected a configured product (${known}), received "${d.productKey}"` }]);
      }
      this.add({ ...d, iotId: iotIdOf(d.productKey, d.deviceName) });
    });
  }

  product(productKey: string): ProductRecord | undefined {
    return this.products.get(productKey);
  }

  device(productKey: string, deviceName: string): DeviceRecord | undefined {
    return this.devices.get(`${productKey}/${deviceName}`);
  }

  deviceByIotId(iotId: string): DeviceRecord | undefined {
    return this.byIotId.get(iotId);
  }

  /** RegisterDevice: a new device with a fresh secret; a name is generated when none is given. */
  register(productKey: string, deviceName?: string, nickname?: string): DeviceRecord {
    if (!this.products.has(productKey)) throw ApiErrors.productNotFound(productKey);
    const name = deviceName ?? randomBytes(10).toString('hex');
    if (this.devices.has(`${productKey}/${name}`)) throw ApiErrors.deviceExists(name);
    const d = this.add({
      productKey,
      deviceName: name,
      deviceSecret: randomBytes(16).toString('hex'),
      iotId: iotIdOf(productKey, name),
      ...(nickname ? { nickname } : {}),
    });
    this.onChange?.();
    return d;
  }

  /** DeleteDevice: the device is forgotten (its name may be registered again); undefined when unknown. */
  remove(productKey: string, deviceName: string): DeviceRecord | undefined {
    const d = this.devices.get(`${productKey}/${deviceName}`);
    if (!d) return undefined;
    this.devices.delete(`${productKey}/${deviceName}`);
    this.byIotId.delete(d.iotId);
    this.onChange?.();
    return d;
  }

  /** DisableThing / EnableThing: a disabled device keeps its data but may not connect or be logged in. */
  setDisabled(d: DeviceRecord, disabled: boolean): void {
    if (disabled) d.disabled = true;
    else delete d.disabled;
    this.onChange?.();
  }

  /** Every device, configured and registered. */
  allDevices(): IterableIterator<DeviceRecord> {
    return this.devices.values();
  }

  private add(d: DeviceRecord): DeviceRecord {
    this.devices.set(`${d.productKey}/${d.deviceName}`, d);
    this.byIotId.set(d.iotId, d);
    return d;
  }
}
