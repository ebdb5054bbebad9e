/**
 * The traffic half of the gateway (docs/protocol/gateway-traffic.md): the topic filters of each sub-device, subscribed
 * on the gateway's connection before the device is reported online and dropped after it goes offline, and the owner
 * of each sub-device's traffic. The sessions half calls {@link createSubDeviceTraffic} from the wiring.
 */
import type { Logger } from 'pino';
import { channelTopics, deviceTopics, extRrpcFilter, type DeviceIdentity, type MessageIdGenerator } from '../../../thing-model/wire';
import type { SubDeviceDirectory, SubDeviceEntry, SubDeviceTraffic } from '../directory';
import { SubDeviceOwners, type OwnedClaim } from './owners';
import { admit, type Admission } from './admit';
import { SubDeviceUpstreams } from './upstream';
import type { Uplink } from '../../transport';
import type { Upstream } from '../../../handlers/api';

export { SubDeviceOwners, type OwnedClaim } from './owners';
export type { Admission } from './admit';

/** The part of the gateway's MQTT session the traffic side needs (agent/session). */
export interface TrafficSubscriber {
  /** Subscribes filters (kept across reconnects); resolves after their SUBACK when connected. */
  subscribe(subs: readonly { topic: string; qos: 0 | 1 }[]): Promise<void>;
  /** Stops keeping these filters subscribed (UNSUBSCRIBE when connected). */
  unsubscribe(topics: readonly string[]): Promise<void>;
}

/** What {@link createSubDeviceTraffic} needs. */
export interface SubDeviceTrafficDeps {
  directory: SubDeviceDirectory;
  subscriber: TrafficSubscriber;
  /** The `subDevices` claims of the loaded plugin instances, in load order. */
  claims: readonly OwnedClaim[];
  logger: Logger;
  /** The gateway's uplink (its outbox) and upstream settings, shared by every sub-device's upstream. */
  uplink: Uplink;
  ids?: MessageIdGenerator;
  durable?: boolean;
  replyTimeoutMs?: number;
  now?: () => number;
}

/** The traffic side as the wiring sees it. */
export interface SubDeviceTrafficSide extends SubDeviceTraffic {
  beforeOnline(entry: SubDeviceEntry): Promise<void>;
  afterOffline(entry: SubDeviceEntry): Promise<void>;
  /** The plugin instance owning a sub-device's traffic; undefined when none claims it. */
  ownerOf(device: DeviceIdentity): OwnedClaim | undefined;
  /** Whether a call for this sub-device may reach its owner, or the Alink code and message to refuse it with. */
  admit(device: DeviceIdentity): Admission;
  /** `ctx.gateway.upstream(device)`: undefined when the directory does not know the device. */
  upstream(device: DeviceIdentity): Upstream | undefined;
  /** Settles a sub-device's post from its `_reply`; false when the topic is not one (route it elsewhere). */
  handleReply(topic: string, payload: Buffer): boolean;
}

/** QoS of a sub-device's filter: RRPC requests come at QoS 0 (docs/protocol/gateway-traffic.md, "Topics"). */
function qosOf(filter: string): 0 | 1 {
  return filter.includes('/rrpc/') ? 0 : 1;
}

/** Creates the traffic side. The one factory the wiring (agent/agent.ts) calls. */
export function createSubDeviceTraffic(deps: SubDeviceTrafficDeps): SubDeviceTrafficSide {
  const owners = new SubDeviceOwners(deps.claims);
  const logger = deps.logger.child({ component: 'gateway-traffic' });
  const upstreams = new SubDeviceUpstreams({ ...deps, logger });

  const filtersFor = (device: DeviceIdentity): readonly string[] => {
    const t = deviceTopics(device);
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
    ];
  };

  return {
    filtersFor,
    ownerOf: (device) => owners.ownerOf(device),
    admit: (device) => admit(deps.directory, owners, device),
    upstream: (device) => upstreams.upstream(device),
    handleReply: (topic, payload) => upstreams.handleReply(topic, payload),
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
