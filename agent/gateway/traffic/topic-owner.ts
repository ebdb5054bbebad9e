/**
 * Which device an inbound topic is for, and where a refusal of it is answered (docs/protocol/gateway-traffic.md,
 * "Routing"): `/sys/{pk}/{dn}/...`, `/{pk}/{dn}/user/...`, `/ext/rrpc/{id}/...` around either, `/ext/error/{pk}/{dn}`,
 * and the OTA topics `/ota/device/{kind}/{pk}/{dn}` (docs/protocol/ota.md, "Sub-devices"): no reply topic, a notice
 * is answered with progress. Pure string work on the hot path of every sub-device message.
 */
import type { DeviceIdentity } from '../../../thing-model/wire';

export interface TopicOwner {
  device: DeviceIdentity;
  /** Where an Alink refusal goes: `_reply`, the RRPC response topic, or the `/ext/rrpc` topic itself; none for custom topics. */
  replyTopic?: string;
  /** QoS of that reply: RRPC answers go at 0. */
  replyQos: 0 | 1;
  /** `/ext/error/{pk}/{dn}`. */
  extError?: boolean;
}

const EXT_RRPC = '/ext/rrpc/';
const EXT_ERROR = '/ext/error/';
const OTA = '/ota/device/';

export function topicOwner(topic: string): TopicOwner | undefined {
  if (topic.startsWith(EXT_ERROR)) {
    const [pk, dn, more] = topic.slice(EXT_ERROR.length).split('/');
    return pk && dn && more === undefined ? { device: { productKey: pk, deviceName: dn }, replyQos: 0, extError: true } : undefined;
  }
  if (topic.startsWith(EXT_RRPC)) {
    const rest = topic.indexOf('/', EXT_RRPC.length);
    if (rest < 0) return undefined;
    const inner = topicOwner(topic.slice(rest));
    return inner && !inner.extError ? { device: inner.device, replyTopic: topic, replyQos: 0 } : undefined;
  }
  if (topic.startsWith(OTA)) {
    const [kind, pk, dn, more] = topic.slice(OTA.length).split('/');
    return kind && pk && dn && more === undefined ? { device: { productKey: pk, deviceName: dn }, replyQos: 1 } : undefined;
  }
  const l = topic.split('/');
  if (l[0] !== '') return undefined;
  if (l[1] === 'sys') {
    const [pk, dn] = [l[2], l[3]];
    if (!pk || !dn) return undefined;
    const device = { productKey: pk, deviceName: dn };
    if (l[4] === 'rrpc' && l[5] === 'request' && l[6]) return { device, replyTopic: `/sys/${pk}/${dn}/rrpc/response/${l[6]}`, replyQos: 0 };
    if (l[4] === 'thing' && l[5] === 'service' && !topic.endsWith('_reply')) return { device, replyTopic: `${topic}_reply`, replyQos: 1 };
    return { device, replyQos: 1 };
  }
  const [pk, dn] = [l[1], l[2]];
  return pk && dn && l[3] === 'user' ? { device: { productKey: pk, deviceName: dn }, replyQos: 1 } : undefined;
}
