/**
 * The claims table: which plugin handles which property, service, custom topic and RRPC topic. Built once when
 * the plugins are loaded; the router reads it on every message. Conflicts and unknown identifiers are reported
 * here, naming the plugins and identifiers involved.
 */
import type { Logger } from 'pino';
import type { CompiledThingModel } from '../../thing-model';
import { AlinkMethods, compileFilter, deviceTopics, filterSyntaxError, hasWildcard, resolveUserTopic, type DeviceIdentity } from '../../thing-model/wire';
import type { CustomTopicClaim, CustomTopicHandler, PluginInstance, RrpcHandler, ServiceHandler } from '../../handlers/api';
import { ClaimError } from './errors';

export { ClaimError };

export type PluginState = 'loaded' | 'starting' | 'running' | 'stopping' | 'stopped';

/** One loaded plugin instance. `instance` is replaced when a reload sets the plugin up again. */
export interface PluginSlot {
  readonly name: string;
  readonly logger: Logger;
  state: PluginState;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  instance: PluginInstance<any>;
}

/** A custom-topic claim resolved to its full filter. */
export interface CustomTopicRoute {
  readonly slot: PluginSlot;
  /** The claim's key, as the plugin wrote it. */
  readonly key: string;
  /** The full filter, `/{pk}/{dn}/user/...`. */
  readonly filter: string;
  readonly qos: 0 | 1;
  /** Present for wildcard filters. */
  readonly pattern?: RegExp;
}

/** A custom-topic RRPC claim resolved to its full custom topic. */
export interface RrpcTopicRoute {
  readonly slot: PluginSlot;
  readonly key: string;
  /** The full custom topic, with its leading slash. */
  readonly topic: string;
  readonly pattern?: RegExp;
}

/** Implicit TSL entries that are not services a plugin can implement (docs/protocol/tsl.md, "Implicit entries"). */
export const IMPLICIT_METHODS: ReadonlySet<string> = new Set([AlinkMethods.PROPERTY_SET, AlinkMethods.PROPERTY_GET]);

/**
 * The service claim key meaning "every TSL service no other plugin claims by name" (a gateway driver that
 * forwards every call); its handler tells the services apart by `call.service`.
 */
export const SERVICE_WILDCARD = '*';

/** The handler a plugin instance has for `serviceId`: its own claim, else its `'*'` claim. */
export function serviceHandlerOf(inst: PluginInstance<unknown>, serviceId: string): ServiceHandler | undefined {
  const services = inst.services;
  if (!services) return undefined;
  return Object.hasOwn(services, serviceId) ? services[serviceId] : services[SERVICE_WILDCARD];
}

export class HandlerRegistry {
  /** rw property → owning plugin. */
  readonly properties = new Map<string, PluginSlot>();
  /** Properties per plugin (what `ownedProperties()` returns). */
  readonly ownedBy = new Map<PluginSlot, string[]>();
  /** TSL service → the plugin that answers it (by name, or by its `'*'` claim). */
  readonly services = new Map<string, PluginSlot>();
  readonly customTopics: CustomTopicRoute[] = [];
  readonly rrpcTopics: RrpcTopicRoute[] = [];
  rawRrpc: PluginSlot | undefined;
  /** The plugin that handles custom-format data (docs/protocol/raw-data.md). */
  rawData: PluginSlot | undefined;
  /** The plugin that applies the remote configuration file (docs/protocol/remote-config.md). */
  remoteConfig: PluginSlot | undefined;
  /** OTA module → the plugin whose `ota` claim versions and installs it (docs/ota.md). */
  readonly otaModules = new Map<string, PluginSlot>();

  /** Builds the table from freshly set-up plugins; throws `ClaimError` on the first problem. */
  static build(slots: readonly PluginSlot[], model: CompiledThingModel, identity: DeviceIdentity): HandlerRegistry {
    const r = new HandlerRegistry();
    const userPrefix = deviceTopics(identity).userPrefix;
    const rw = model.model.properties.filter((p) => p.accessMode === 'rw').map((p) => p.identifier);
    let wildcardOwner: PluginSlot | undefined;
    let serviceWildcardOwner: PluginSlot | undefined;

    for (const slot of slots) {
      const inst = slot.instance;
      const who = `plugin "${slot.name}"`;
      const ids = inst.properties?.ids;
      if (inst.properties && ids !== '*' && !Array.isArray(ids)) throw new ClaimError(`${who}: properties.ids must be a list of identifiers or '*'`);
      if (ids === '*') {
        if (wildcardOwner) throw new ClaimError(`both plugin "${wildcardOwner.name}" and ${who} claim every unclaimed property ('*')`);
        wildcardOwner = slot;
      } else if (ids) {
        for (const id of ids) {
          const p = model.property(id);
          if (!p) throw new ClaimError(`${who} claims property "${id}", which the Thing Model does not define`);
          if (p.accessMode !== 'rw') throw new ClaimError(`${who} claims property "${id}" for set, but it is read-only`);
          const other = r.properties.get(id);
          if (other) throw new ClaimError(`property "${id}" is claimed by both plugin "${other.name}" and ${who}`);
          r.properties.set(id, slot);
        }
      }
      if (inst.properties && typeof inst.properties.apply !== 'function') throw new ClaimError(`${who}: properties.apply is not a function`);

      for (const [id, fn] of Object.entries(inst.services ?? {})) {
        if (id === SERVICE_WILDCARD) {
          if (typeof fn !== 'function') throw new ClaimError(`${who}: service '*' handler is not a function`);
          if (serviceWildcardOwner) throw new ClaimError(`both plugin "${serviceWildcardOwner.name}" and ${who} claim every unclaimed service ('*')`);
          serviceWildcardOwner = slot;
          continue;
        }
        const s = model.service(id);
        if (!s || IMPLICIT_METHODS.has(s.method)) throw new ClaimError(`${who} claims service "${id}", which the Thing Model does not define`);
        if (typeof fn !== 'function') throw new ClaimError(`${who}: service "${id}" handler is not a function`);
        const other = r.services.get(id);
        if (other) throw new ClaimError(`service "${id}" is claimed by both plugin "${other.name}" and ${who}`);
        r.services.set(id, slot);
      }

      for (const [key, claim] of Object.entries(inst.customTopics ?? {})) {
        const filter = fullUserTopic(key, userPrefix, `${who} custom topic "${key}"`);
        const err = filterSyntaxError(filter);
        if (err) throw new ClaimError(`${who} custom topic "${key}": ${err}`);
        if (!customHandler(claim)) throw new ClaimError(`${who} custom topic "${key}": handler is not a function`);
        const other = r.customTopics.find((c) => c.filter === filter);
        if (other) throw new ClaimError(`custom topic "${filter}" is claimed by both plugin "${other.slot.name}" and ${who}`);
        const qos = typeof claim === 'function' ? 1 : (claim.qos ?? 1);
        r.customTopics.push({ slot, key, filter, qos, pattern: hasWildcard(filter) ? compileFilter(filter) : undefined });
      }

      const rrpc = inst.rrpc;
      if (rrpc?.raw) {
        if (typeof rrpc.raw !== 'function') throw new ClaimError(`${who}: rrpc.raw is not a function`);
        if (r.rawRrpc) throw new ClaimError(`raw RRPC is claimed by both plugin "${r.rawRrpc.name}" and ${who}`);
        r.rawRrpc = slot;
      }
      if (inst.raw) {
        if (typeof inst.raw.handle !== 'function') throw new ClaimError(`${who}: raw.handle is not a function`);
        if (r.rawData) throw new ClaimError(`custom-format data (raw) is claimed by both plugin "${r.rawData.name}" and ${who}`);
        r.rawData = slot;
      }
      if (inst.config) {
        if (typeof inst.config.apply !== 'function') throw new ClaimError(`${who}: config.apply is not a function`);
        if (r.remoteConfig) throw new ClaimError(`remote configuration is claimed by both plugin "${r.remoteConfig.name}" and ${who}`);
        r.remoteConfig = slot;
      }
      if (inst.ota) claimOta(r, slot, who);
      for (const [key, fn] of Object.entries(rrpc?.topics ?? {})) {
        const topic = fullUserTopic(key, userPrefix, `${who} RRPC topic "${key}"`);
        const err = filterSyntaxError(topic);
        if (err) throw new ClaimError(`${who} RRPC topic "${key}": ${err}`);
        if (typeof fn !== 'function') throw new ClaimError(`${who} RRPC topic "${key}": handler is not a function`);
        const other = r.rrpcTopics.find((c) => c.topic === topic);
        if (other) throw new ClaimError(`RRPC topic "${topic}" is claimed by both plugin "${other.slot.name}" and ${who}`);
        r.rrpcTopics.push({ slot, key, topic, pattern: hasWildcard(topic) ? compileFilter(topic) : undefined });
      }
    }

    if (wildcardOwner) for (const id of rw) if (!r.properties.has(id)) r.properties.set(id, wildcardOwner);
    if (serviceWildcardOwner) {
      for (const s of model.model.services) {
        if (!IMPLICIT_METHODS.has(s.method) && !r.services.has(s.identifier)) r.services.set(s.identifier, serviceWildcardOwner);
      }
    }
    for (const [id, slot] of r.properties) {
      const list = r.ownedBy.get(slot);
      if (list) list.push(id);
      else r.ownedBy.set(slot, [id]);
    }
    return r;
  }

  /**
   * A string listing every claim, for checking that a reload did not change them (the subscriptions were made
   * from the old ones).
   */
  static claimsSignature(inst: PluginInstance<unknown>): string {
    const ids = inst.properties?.ids;
    return JSON.stringify([
      ids === '*' ? '*' : [...(ids ?? [])].sort(),
      Object.keys(inst.services ?? {}).sort(),
      Object.entries(inst.customTopics ?? {})
        .map(([k, c]) => `${k}:${typeof c === 'function' ? 1 : (c.qos ?? 1)}`)
        .sort(),
      Boolean(inst.rrpc?.raw),
      Object.keys(inst.rrpc?.topics ?? {}).sort(),
      Boolean(inst.raw),
      Boolean(inst.config),
    ]);
  }
}

/** The handler of a custom-topic claim in either form. */
export function customHandler(claim: CustomTopicHandler | CustomTopicClaim | undefined): CustomTopicHandler | undefined {
  if (typeof claim === 'function') return claim;
  if (claim && typeof claim.handler === 'function') return claim.handler;
  return undefined;
}

export function rrpcTopicHandler(slot: PluginSlot, key: string): RrpcHandler | undefined {
  return slot.instance.rrpc?.topics?.[key];
}

function fullUserTopic(key: string, userPrefix: string, what: string): string {
  const r = resolveUserTopic(key, userPrefix);
  if ('problem' in r) throw new ClaimError(r.problem === 'empty' ? `${what}: empty` : `${what}: not under ${userPrefix}`);
  return r.topic;
}

function claimOta(r: HandlerRegistry, slot: PluginSlot, who: string): void {
  const ota = slot.instance.ota!;
  if (!Array.isArray(ota.modules) || typeof ota.version !== 'function' || typeof ota.install !== 'function') {
    throw new ClaimError(`${who}: ota needs modules (a list of module names), version() and install()`);
  }
  for (const m of ota.modules) {
    if (typeof m !== 'string' || m === '') throw new ClaimError(`${who}: ota.modules: expected non-empty module names, received ${JSON.stringify(m)}`);
    const other = r.otaModules.get(m);
    if (other) throw new ClaimError(`OTA module "${m}" is claimed by both plugin "${other.name}" and ${who}`);
    r.otaModules.set(m, slot);
  }
}
