/**
 * The traffic half of the gateway (docs/protocol/gateway-traffic.md): each sub-device's topic filters, subscribed on
 * the gateway's connection before the device is reported online and dropped after it goes offline; the owner of each
 * sub-device's traffic; and every inbound message of a sub-device admitted (or refused with the platform's code) and
 * handed to that device's router. The sessions half calls {@link createSubDeviceTraffic} from the wiring.
 */
import type { Logger } from 'pino';
import { channelTopics, deviceTopics, extRrpcFilter, lifecycleTopics, otaTopics, type DeviceIdentity } from '../../../thing-model/wire';
import type { Upstream } from '../../../handlers/api';
import type { InboundMessage } from '../../transport';
import type { Router } from '../../router';
import { errorReply } from '../../router/replies';
import type { SubDeviceDirectory, SubDeviceEntry, SubDeviceTraffic } from '../directory';
import { SubDeviceOwners, type OwnedClaim } from './owners';
import { admit, type Admission } from './admit';
import { SubDeviceRouters, type SubDeviceRouterDeps } from './routers';
import type { TopicOwner } from './topic-owner';

export { SubDeviceOwners, type OwnedClaim } from './owners';
export type { Admission } from './admit';
export { topicOwner, type TopicOwner } from './topic-owner';
export { checkClaim, claimRegistry, type SubDeviceRouterDeps } from './routers';

/** The part of the gateway's MQTT session the traffic side needs (agent/session: `subscribeNow`, `unsubscribeNow`). */
export interface TrafficSubscriber {
  /** Subscribes filters on the current connection; resolves after their SUBACK. */
  subscribe(subs: readonly { topic: string; qos: 0 | 1 }[]): Promise<void>;
  /** Drops them (UNSUBSCRIBE when connected). */
  unsubscribe(topics: readonly string[]): Promise<void>;
}

/** What {@link createSubDeviceTraffic} needs. */
export interface SubDeviceTrafficDeps {
  directory: SubDeviceDirectory;
  subscriber: TrafficSubscriber;
  /** The `subDevices` claims of the loaded plugin instances, in load order. */
  claims: readonly OwnedClaim[];
  logger: Logger;
  /** What each sub-device's router shares with the gateway's (uplink, budgets, inbox, clock). */
  routers: Omit<SubDeviceRouterDeps, 'logger'>;
  /** Products with OTA modules (`gateway.otaModules`): their devices also subscribe the OTA replies. */
  otaProducts?: ReadonlySet<string>;
}

/** The traffic side as the wiring sees it. */
export interface SubDeviceTrafficSide extends SubDeviceTraffic {
  beforeOnline(entry: SubDeviceEntry): Promise<void>;
  afterOffline(entry: SubDeviceEntry): Promise<void>;
  /** The plugin instance owning a sub-device's traffic; undefined when none claims it. */
  ownerOf(device: DeviceIdentity): OwnedClaim | undefined;
  /** Whether a call for this sub-device may reach its owner, or the Alink code and message to refuse it with. */
  admit(device: DeviceIdentity): Admission;
  /** The device's router, made now if need be; undefined when the directory does not know the device. */
  routerOf(device: DeviceIdentity): Router | undefined;
  /** `ctx.gateway.upstream(device)`: undefined when the directory does not know the device. */
  upstream(device: DeviceIdentity): Upstream | undefined;
  /** One inbound message on a sub-device's topics (`owner` from {@link topicOwner}). Never rejects. */
  handle(msg: InboundMessage, owner: TopicOwner): Promise<void>;
  /** Forgets a removed device's router. */
  forget(device: DeviceIdentity): void;
  /** Waits for the sub-devices' in-flight handlers as the gateway's router does. */
  drain(timeoutMs: number): Promise<void>;
}

const DONE = Promise.resolve();

/** QoS of a sub-device's filter: RRPC requests come at QoS 0 (docs/protocol/gateway-traffic.md, "Topics"). */
function qosOf(filter: string): 0 | 1 {
  return filter.includes('/rrpc/') ? 0 : 1;
}

/** Creates the traffic side. The one factory the wiring (agent/gateway/wiring.ts) calls. */
export function createSubDeviceTraffic(deps: SubDeviceTrafficDeps): SubDeviceTrafficSide {
  const owners = new SubDeviceOwners(deps.claims);
  const logger = deps.logger.child({ component: 'gateway-traffic' });
  const routers = new SubDeviceRouters({ ...deps.routers, logger });
  const routerOf = (device: DeviceIdentity) => {
    const entry = deps.directory.get(device.productKey, device.deviceName);
    return entry ? routers.routerFor(entry, owners.ownerOf(device)) : undefined;
  };

  const filtersFor = (device: DeviceIdentity): readonly string[] => {
    const t = deviceTopics(device);
    const life = lifecycleTopics(device);
    const ota = otaTopics(device);
    return [
      t.propertySet,
      t.serviceFilter,
      t.rrpcRequestFilter,
      extRrpcFilter(t.serviceFilter),
      t.eventPostReplyFilter,
      t.propertyBatchPostReply,
      channelTopics(device).downRaw,
      channelTopics(device).upRawReply,
      `${t.userPrefix}#`,
      extRrpcFilter(`${t.userPrefix}#`),
      // The platform's notices about the device itself (handled by the sessions side).
      life.extError,
      life.disable,
      life.enable,
      life.delete,
      // Every device hears its upgrade notices: one for a device without modules is answered with a failure.
      ota.upgrade,
      ...(deps.otaProducts?.has(device.productKey) ? [ota.firmwareGetReply, ota.fileDownloadReply] : []),
    ];
  };

  const failed = (err: unknown, msg: InboundMessage) => logger.error({ err, topic: msg.topic }, 'sub-device message failed');
  const refuse = async (msg: InboundMessage, owner: TopicOwner, code: number, message: string): Promise<void> => {
    logger.warn({ topic: msg.topic, code, reason: message }, 'sub-device message refused');
    deps.routers.observer?.rejection(code);
    if (!owner.replyTopic) return;
    let id = '';
    try {
      const parsed = JSON.parse(msg.payload.toString('utf8')) as { id?: unknown };
      if (typeof parsed?.id === 'string') id = parsed.id;
    } catch {
      // Not JSON: answered without an id, as the router answers a malformed request.
    }
    await deps.routers.uplink.publish(owner.replyTopic, errorReply(id, code, message), { qos: owner.replyQos, messageClass: 'reply' }).then(
      (r) => r.acked,
      (err: unknown) => logger.warn({ err, topic: owner.replyTopic }, 'refusal not sent'),
    );
  };

  return {
    filtersFor,
    ownerOf: (device) => owners.ownerOf(device),
    admit: (device) => admit(deps.directory, owners, device),
    routerOf,
    upstream: (device) => routerOf(device)?.upstream,
    forget: (device) => routers.forget(device),
    handle(msg, owner) {
      // Not an async function: the router's promise is handed on as it is (a router never rejects), not wrapped
      // in one more per message.
      try {
        // Post replies settle the device's own posts whatever its state now.
        if (!owner.replyTopic && msg.topic.endsWith('/post_reply')) return routers.get(owner.device)?.handle(msg) ?? DONE;
        const a = admit(deps.directory, owners, owner.device);
        if (!a.ok) return refuse(msg, owner, a.code, a.message).catch((err: unknown) => failed(err, msg));
        return routers.routerFor(a.entry, a.owner).handle(msg);
      } catch (err) {
        failed(err, msg);
        return DONE;
      }
    },
    async drain(timeoutMs) {
      await Promise.all(routers.all().map((r) => r.drain(timeoutMs)));
    },
    async beforeOnline(entry) {
      const filters = filtersFor(entry);
      await deps.subscriber.subscribe(filters.map((topic) => ({ topic, qos: qosOf(topic) })));
      logger.debug({ device: entry.key, filters: filters.length }, 'sub-device subscriptions in place');
    },
    async afterOffline(entry) {
      await deps.subscriber.unsubscribe(filtersFor(entry));
      logger.debug({ device: entry.key }, 'sub-device subscriptions dropped');
    },
  };
}
