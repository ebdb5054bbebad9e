/**
 * OTA for the sub-devices behind the gateway (docs/ota.md, "Sub-devices"; docs/protocol/ota.md, "Sub-devices"): one
 * {@link OtaDevice} per sub-device whose product has modules in `gateway.otaModules`, on that device's own router and
 * topics, publishing through the gateway's uplink (the outbox holds what it sends until the device is online). Its
 * versions are informed once per start, when the device first comes online, and after every upgrade; its jobs resume
 * at boot; it stops when the device is removed. A notice for a device without modules gets the failure that says so.
 */
import type { Logger } from 'pino';
import { MessageIdGenerator, otaTopics, type DeviceIdentity } from '../../thing-model/wire';
import type { OtaModuleSection, OtaSection } from '../config/schema';
import { ClaimError, type PluginSlot } from '../plugins/registry';
import type { Router } from '../router';
import type { InboundMessage, Uplink } from '../transport';
import { OtaDevice, type OtaModuleStatus, type OtaObserver } from '../ota/device';
import { OtaErrors, describe } from '../ota/errors';
import { jobDir, removeStaged } from '../ota/job';
import { OtaMessages } from '../ota/messages';
import { noticeData, noticeModule } from '../ota/notice';
import type { OtaStore } from '../ota/store';
import { subDeviceKey, type SubDeviceDirectory, type SubDeviceEntry } from './directory';
import { claimRegistry, type SubDeviceTrafficSide } from './traffic';

/** What the agent gives the gateway for its sub-devices' OTA: the `ota` section's bounds and the gateway's store. */
export interface SubDeviceOtaOptions {
  settings: OtaSection;
  /** Absolute staging directory (the gateway's own; each device has its folder in it). */
  stagingDir: string;
  configDir: string;
  store: OtaStore;
  observer?: OtaObserver;
}

export interface SubDeviceOtaDeps extends SubDeviceOtaOptions {
  /** `gateway.otaModules`: product key → its sub-devices' modules. */
  modules: Readonly<Record<string, readonly OtaModuleSection[]>>;
  directory: SubDeviceDirectory & { onRemoved(listener: (entry: SubDeviceEntry) => void): void };
  traffic: SubDeviceTrafficSide;
  slotOf(name: string): PluginSlot | undefined;
  /** The gateway's uplink as its sub-devices' routers use it (refusals watched). */
  uplink: Uplink;
  logger: Logger;
}

/** One sub-device's modules that have a job or a failure, for /healthz. */
export interface SubDeviceOtaStatus {
  device: string;
  modules: OtaModuleStatus[];
}

interface Managed {
  ota: OtaDevice;
  router: Router;
  /** Its boot (counting this start for installed jobs, resuming downloads); informs wait for it. */
  booted?: Promise<void>;
}

const SYS_OTA_REPLIES = ['/thing/ota/firmware/get_reply', '/thing/file/download_reply'];

/** The product's modules for one device: `{productKey}` and `{deviceName}` in paths, commands and arguments filled in. */
export function modulesFor(modules: readonly OtaModuleSection[], id: DeviceIdentity): OtaModuleSection[] {
  const fill = (s: string) => s.replaceAll('{productKey}', id.productKey).replaceAll('{deviceName}', id.deviceName);
  return modules.map((m) => ({
    ...m,
    version: 'file' in m.version ? { file: fill(m.version.file) } : 'command' in m.version ? { command: fill(m.version.command) } : m.version,
    ...(m.install ? { install: { command: m.install.command.map(fill) } } : {}),
    ...(m.rollback ? { rollback: { command: m.rollback.command.map(fill) } } : {}),
  }));
}

/**
 * Every `{"plugin": name}` version source of `gateway.otaModules` names a loaded plugin whose `subDevices.ota` claims
 * the module: the ClaimError the agent fails to start with, rather than a version never informed.
 */
export function checkOtaClaims(modules: Readonly<Record<string, readonly OtaModuleSection[]>>, slotOf: (name: string) => PluginSlot | undefined): void {
  for (const [pk, list] of Object.entries(modules)) {
    list.forEach((m, i) => {
      if (!('plugin' in m.version)) return;
      const claimed: unknown = slotOf(m.version.plugin)?.instance.subDevices?.ota?.modules;
      if (!Array.isArray(claimed) || !claimed.includes(m.name)) throw new ClaimError(`gateway.otaModules.${pk}.${i}.version: plugin "${m.version.plugin}" does not claim module "${m.name}" in its subDevices.ota.modules`);
    });
  }
}

export class SubDeviceOta {
  /** Whether any product has modules (/healthz lists the sub-devices' OTA only then). */
  readonly configured: boolean;
  private readonly devices = new Map<string, Managed>();
  private readonly ids = new MessageIdGenerator();
  private readonly logger: Logger;
  private booted = false;
  private stopped = false;

  constructor(private readonly d: SubDeviceOtaDeps) {
    this.logger = d.logger.child({ component: 'ota' });
    this.configured = Object.values(d.modules).some((list) => list.length > 0);
    for (const e of d.directory.list()) this.ensure(e);
    d.directory.onChange((entry) => this.onChange(entry));
    d.directory.onRemoved((entry) => void this.drop(entry));
  }

  /** Whether a sub-device's inbound topic is one of OTA's: notices, firmware.get and block replies. */
  static takes(topic: string): boolean {
    return topic.startsWith('/ota/device/') || (topic.startsWith('/sys/') && SYS_OTA_REPLIES.some((s) => topic.endsWith(s)));
  }

  /** Before the first connect: every managed device counts this start and resumes its interrupted downloads. */
  async boot(): Promise<void> {
    this.booted = true;
    await Promise.all([...this.devices.values()].map((m) => this.ready(m)));
  }

  /** One message on a sub-device's OTA topics; never rejects. */
  async handle(msg: InboundMessage, device: DeviceIdentity): Promise<void> {
    const m = this.devices.get(subDeviceKey(device));
    if (m) return m.router.handle(msg);
    if (msg.topic === otaTopics(device).upgrade) return this.refuse(msg, device);
    this.logger.debug({ topic: msg.topic }, 'ota message for a sub-device without modules dropped');
  }

  /** Sub-devices with an OTA job or a failure (a thousand quiet ones are not listed). */
  status(): SubDeviceOtaStatus[] {
    const out: SubDeviceOtaStatus[] = [];
    for (const [device, m] of this.devices) {
      const modules = m.ota.status().filter((s) => s.job !== undefined || s.lastFailure !== undefined);
      if (modules.length > 0) out.push({ device, modules });
    }
    return out;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.devices.values()].map((m) => m.ota.stop()));
  }

  private onChange(entry: SubDeviceEntry): void {
    if (this.stopped) return;
    const m = this.devices.get(entry.key) ?? this.ensure(entry);
    if (!m) return;
    // Once per start: OtaDevice informs, pulls and confirms on its first call only.
    if (entry.state === 'online') void this.ready(m).then(() => m.ota.onConnected());
  }

  /** The device's OTA client, made when its product has modules; booted at once when the gateway has booted. */
  private ensure(entry: SubDeviceEntry): Managed | undefined {
    const modules = this.d.modules[entry.productKey];
    if (!modules || modules.length === 0 || this.devices.has(entry.key)) return this.devices.get(entry.key);
    const id = { productKey: entry.productKey, deviceName: entry.deviceName };
    const router = this.d.traffic.routerOf(id);
    if (!router) return undefined;
    const owned = this.d.traffic.ownerOf(id);
    const ota = new OtaDevice({
      device: id,
      settings: { ...this.d.settings, modules: modulesFor(modules, id) },
      stagingDir: this.d.stagingDir,
      configDir: this.d.configDir,
      store: this.d.store,
      uplink: this.d.uplink,
      router,
      registry: claimRegistry(owned, owned ? this.d.slotOf(owned.owner) : undefined, entry.model, id),
      ids: this.ids,
      logger: this.logger.child({ device: entry.key }),
      modulesKey: `gateway.otaModules.${entry.productKey}`,
      ...(this.d.observer ? { observer: this.d.observer } : {}),
    });
    const m: Managed = { ota, router };
    this.devices.set(entry.key, m);
    if (this.booted) void this.ready(m);
    return m;
  }

  private ready(m: Managed): Promise<void> {
    m.booted ??= m.ota.boot().catch((err: unknown) => this.logger.error({ err: describe(err) }, 'ota boot of a sub-device failed'));
    return m.booted;
  }

  private async drop(entry: SubDeviceEntry): Promise<void> {
    const m = this.devices.get(entry.key);
    if (!m || this.stopped) return;
    this.devices.delete(entry.key);
    await m.ota.stop();
    // The device is gone: its jobs and staged packages with it.
    for (const job of this.d.store.jobs(entry.key)) {
      await this.d.store.deleteJob(entry.key, job.module);
      removeStaged(jobDir(this.d.stagingDir, entry.key, job.module));
    }
    this.logger.info({ device: entry.key }, 'ota of a removed sub-device stopped');
  }

  /** A notice for a device whose product has no modules: the failure progress that says so, as for a module. */
  private async refuse(msg: InboundMessage, device: DeviceIdentity): Promise<void> {
    let module: string;
    try {
      module = noticeModule(noticeData(msg.payload));
    } catch (e) {
      return void this.logger.warn({ topic: msg.topic, err: describe(e) }, 'ota upgrade notice dropped');
    }
    const err = OtaErrors.unhandled(module, `gateway.otaModules.${device.productKey}`);
    this.d.observer?.otaFailure(module, err.code);
    this.logger.warn({ device: subDeviceKey(device), module, code: err.code, step: err.step, err: err.message }, 'ota job failed');
    await new OtaMessages(device, this.d.uplink, this.ids, this.logger).progress(module, err.step, err.message);
  }
}
