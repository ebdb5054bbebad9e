/**
 * Server-side subscriptions: the platform subscribes a client whose clientId carries `_ss=1` (LinkSDK 4.x always
 * sends it and never SUBSCRIBEs its system topics itself) to the topics it serves that device, on every CONNECT
 * (docs/protocol/sdk-compat.md). A client without `_ss=1` subscribes for itself.
 */
import type { DeviceId } from './acl';

/** Whether a connection's clientId parameters ask the platform to subscribe for it. */
export function wantsServerSubscriptions(clientParams: Record<string, string>): boolean {
  return clientParams._ss === '1';
}

/**
 * The filters the platform subscribes for such a device: its `/sys/{pk}/{dn}/...` downstream topics, sync
 * services over `/ext/rrpc/+/sys/{pk}/{dn}/...`, NTP answers and error notices. Devices never receive upstream
 * traffic (their own or others'), so the wide filters carry only what the platform sends.
 */
export function serverSubscriptionFilters(id: DeviceId): string[] {
  const { productKey: pk, deviceName: dn } = id;
  return [`/sys/${pk}/${dn}/#`, `/ext/rrpc/+/sys/${pk}/${dn}/#`, `/ext/ntp/${pk}/${dn}/#`, `/ext/error/${pk}/${dn}/#`];
}

/** QoS of server-side subscriptions: property sets and async services are QoS 1 downstream. */
export const SERVER_SUBSCRIPTION_QOS = 1;
