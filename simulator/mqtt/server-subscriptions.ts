/**
 * Server-side subscriptions: the platform subscribes a client whose clientId carries `_ss=1` (LinkSDK 4.x always
 * sends it and never SUBSCRIBEs its system topics itself) to the topics it serves that device, on every CONNECT
 * (docs/protocol/sdk-compat.md §2). A client without `_ss=1` subscribes for itself.
 *
 * One list serves both brokers: the embedded broker subscribes the filters built from it, and the managed broker
 * hands the same templates to the mosquitto plugin (`plugin_opt_server_subscriptions`), which matches the
 * platform's publishes against them (`topics.c`), so the two cannot drift apart.
 */
import { otaTopics } from '../../thing-model/wire';
import type { DeviceId } from './acl';

/** Slots the templates carry for the device's product key and name (whole topic levels). */
export const PK_SLOT = '{pk}';
export const DN_SLOT = '{dn}';

/**
 * What the platform sends a device: its `/sys/{pk}/{dn}/...` downstream topics (property set, services, RRPC,
 * post replies, the OTA `firmware/get_reply` and `file/download_reply`), sync services over
 * `/ext/rrpc/+/sys/{pk}/{dn}/...`, NTP answers, error notices, and OTA upgrade notices on
 * `/ota/device/upgrade/{pk}/{dn}` (docs/protocol/sdk-compat.md §2). Devices never receive upstream traffic (their
 * own or others'), so the wide filters carry only what the platform sends.
 */
export const SERVER_SUBSCRIPTION_TEMPLATES: readonly string[] = [
  `/sys/${PK_SLOT}/${DN_SLOT}/#`,
  `/ext/rrpc/+/sys/${PK_SLOT}/${DN_SLOT}/#`,
  `/ext/ntp/${PK_SLOT}/${DN_SLOT}/#`,
  `/ext/error/${PK_SLOT}/${DN_SLOT}/#`,
  otaTopics({ productKey: PK_SLOT, deviceName: DN_SLOT }).upgrade,
];

/** Whether a connection's clientId parameters ask the platform to subscribe for it. */
export function wantsServerSubscriptions(clientParams: Record<string, string>): boolean {
  return clientParams._ss === '1';
}

/** The filters the platform subscribes for one device: the templates with its identity filled in. */
export function serverSubscriptionFilters(id: DeviceId): string[] {
  return SERVER_SUBSCRIPTION_TEMPLATES.map((t) =>
    t
      .split('/')
      .map((l) => (l === PK_SLOT ? id.productKey : l === DN_SLOT ? id.deviceName : l))
      .join('/'),
  );
}

/** QoS of server-side subscriptions: property sets and async services are QoS 1 downstream. */
export const SERVER_SUBSCRIPTION_QOS = 1;
