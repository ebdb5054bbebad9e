/**
 * One router per sub-device (docs/protocol/gateway-traffic.md, "Routing"): the gateway's own routing, TSL validation,
 * de-duplication, deadlines and replies (agent/router), on the sub-device's topics and its product's Thing Model, with
 * its owner's `subDevices` handlers as the only plugin. Replies and posts share the gateway's uplink, so they go through
 * the same outbox; de-dup records share the gateway's inbox under a per-device key. A router is made on the device's
 * first message or post, so thousands of configured but quiet sub-devices cost only their directory entries.
 */
import type { Logger } from 'pino';
import type { CompiledThingModel } from '../../../thing-model';
import type { DeviceIdentity, MessageIdGenerator } from '../../../thing-model/wire';
import type { PluginInstance } from '../../../handlers/api';
import { HandlerRegistry, type PluginSlot } from '../../plugins/registry';
import { createRouter, type PostAfterSetOptions, type Router, type RouterObserver, type RrpcBudgets } from '../../router';
import type { ReplyCache, Uplink } from '../../transport';
import type { AgentClock } from '../../clock/clock';
import { subDeviceKey, type SubDeviceEntry } from '../directory';
import type { OwnedClaim } from './owners';

export interface SubDeviceRouterDeps {
  uplink: Uplink;
  logger: Logger;
  rrpc: RrpcBudgets;
  asyncTimeoutMs: number;
  customTopicTimeoutMs: number;
  postAfterSet?: Partial<PostAfterSetOptions>;
  clock?: AgentClock;
  observer?: RouterObserver;
  /** The gateway's inbox; each sub-device's keys are prefixed with its own. */
  replyCache?: ReplyCache;
  upstream: { replyTimeoutMs?: number; durable?: boolean; ids?: MessageIdGenerator };
  /** The real plugin slot of each owner, by instance name: its state and its current instance. */
  slotOf(owner: string): PluginSlot | undefined;
}

/** The owner's `subDevices` claim seen as a plugin instance of its own, so the router's claims table can hold it. */
function claimSlot(owned: OwnedClaim, real: PluginSlot): PluginSlot {
  // The view is made again only when a reload replaced the real instance, not on every call that reads it.
  let seen: unknown;
  let view: PluginInstance<unknown> | undefined;
  return {
    name: real.name,
    logger: real.logger,
    get state() {
      return real.state;
    },
    set state(_s) {
      // The real slot's state is the plugin host's to change.
    },
    get instance(): PluginInstance<unknown> {
      const inst = real.instance as PluginInstance<unknown>;
      if (view === undefined || inst !== seen) {
        seen = inst;
        const c = inst.subDevices ?? owned.claim;
        view = { properties: c.properties, services: c.services, customTopics: c.customTopics, rrpc: c.rrpc, raw: c.raw, ota: c.ota } as PluginInstance<unknown>;
      }
      return view;
    },
  };
}

/**
 * A sub-device's keys in the shared inbox: the router's key (`set:{id}`...) then the device. The request id leads,
 * as in the gateway's own keys, so the records of one commit land next to each other in the inbox's key index
 * (ids grow); led by the device, a commit of sets spread over 100 sub-devices dirtied a page of the index per device.
 */
function scopedCache(cache: ReplyCache, device: string): ReplyCache {
  const suffix = `|${device}`;
  return { get: (k) => cache.get(k + suffix), put: (k, r) => cache.put(k + suffix, r) };
}

/**
 * Checks an owner's claim against a product's Thing Model (unknown properties and services, read-only sets): the
 * ClaimError the agent fails to start with, naming the plugin, rather than a refusal on the first message.
 */
export function checkClaim(owned: OwnedClaim, real: PluginSlot, model: CompiledThingModel, sample: DeviceIdentity): void {
  HandlerRegistry.build([claimSlot(owned, real)], model, sample);
}

/** A sub-device's claims table: its owner's `subDevices` claim as its only plugin (none without an owner). */
export function claimRegistry(owned: OwnedClaim | undefined, real: PluginSlot | undefined, model: CompiledThingModel, identity: DeviceIdentity): HandlerRegistry {
  return HandlerRegistry.build(owned && real ? [claimSlot(owned, real)] : [], model, identity);
}

export class SubDeviceRouters {
  private readonly byKey = new Map<string, Router>();

  constructor(private readonly deps: SubDeviceRouterDeps) {}

  /** The device's router, made on first use; without an owner it handles posts and replies only. */
  routerFor(entry: SubDeviceEntry, owned: OwnedClaim | undefined): Router {
    const known = this.byKey.get(entry.key);
    if (known) return known;
    const d = this.deps;
    const real = owned ? d.slotOf(owned.owner) : undefined;
    const identity = { productKey: entry.productKey, deviceName: entry.deviceName };
    const router = createRouter({
      identity,
      model: entry.model,
      uplink: d.uplink,
      plugins: { registry: claimRegistry(owned, real, entry.model, identity) },
      rrpc: d.rrpc,
      logger: d.logger.child({ device: entry.key }),
      asyncTimeoutMs: d.asyncTimeoutMs,
      customTopicTimeoutMs: d.customTopicTimeoutMs,
      upstream: d.upstream,
      // The platform's desired values, shadow and clock are the gateway's business, not each sub-device's.
      state: { desired: false, shadow: false, ntp: false },
      subDevice: true,
      ...(d.postAfterSet ? { postAfterSet: d.postAfterSet } : {}),
      ...(d.clock ? { clock: d.clock } : {}),
      ...(d.observer ? { observer: d.observer } : {}),
      ...(d.replyCache ? { replyCache: scopedCache(d.replyCache, entry.key) } : {}),
    });
    this.byKey.set(entry.key, router);
    return router;
  }

  get(device: DeviceIdentity): Router | undefined {
    return this.byKey.get(subDeviceKey(device));
  }

  /** Forgets a removed device's router (after its in-flight calls were answered). */
  forget(device: DeviceIdentity): void {
    this.byKey.delete(subDeviceKey(device));
  }

  /** Every router made so far (drain on shutdown). */
  all(): Router[] {
    return [...this.byKey.values()];
  }
}
