/**
 * Alink topic names (docs/protocol/topics.md). Builders for one device, and a parser that says which kind of
 * downstream message a topic carries. Pure string work, shared by the agent and the simulator.
 */

/** A device: its product key and device name. */
export interface DeviceIdentity {
  productKey: string;
  deviceName: string;
}

/** Topic builders bound to one device. */
export function deviceTopics(id: DeviceIdentity) {
  const sys = `/sys/${id.productKey}/${id.deviceName}`;
  return {
    sysPrefix: sys,
    userPrefix: `/${id.productKey}/${id.deviceName}/user/`,
    propertyPost: `${sys}/thing/event/property/post`,
    propertyPostReply: `${sys}/thing/event/property/post_reply`,
    /** LinkSDK's batch post of properties and events with history (docs/protocol/sdk-compat.md §4). */
    propertyBatchPost: `${sys}/thing/event/property/batch/post`,
    propertyBatchPostReply: `${sys}/thing/event/property/batch/post_reply`,
    propertySet: `${sys}/thing/service/property/set`,
    propertySetReply: `${sys}/thing/service/property/set_reply`,
    eventPost: (eventId: string) => `${sys}/thing/event/${eventId}/post`,
    eventPostReply: (eventId: string) => `${sys}/thing/event/${eventId}/post_reply`,
    eventPostReplyFilter: `${sys}/thing/event/+/post_reply`,
    service: (serviceId: string) => `${sys}/thing/service/${serviceId}`,
    serviceReply: (serviceId: string) => `${sys}/thing/service/${serviceId}_reply`,
    serviceFilter: `${sys}/thing/service/+`,
    rrpcRequest: (messageId: string) => `${sys}/rrpc/request/${messageId}`,
    rrpcResponse: (messageId: string) => `${sys}/rrpc/response/${messageId}`,
    rrpcRequestFilter: `${sys}/rrpc/request/+`,
  };
}

export type DeviceTopics = ReturnType<typeof deviceTopics>;

/** Custom-topic RRPC: request and response share `/ext/rrpc/{messageId}{customTopic}`. */
export function extRrpcTopic(messageId: string, customTopic: string): string {
  return `/ext/rrpc/${messageId}${customTopic.startsWith('/') ? '' : '/'}${customTopic}`;
}

export function extRrpcFilter(customTopic: string): string {
  return `/ext/rrpc/+${customTopic.startsWith('/') ? '' : '/'}${customTopic}`;
}

/** True when an MQTT topic or filter has a `+` or `#`: a filter to match, not a topic to publish to. */
export function hasWildcard(filter: string): boolean {
  return filter.includes('+') || filter.includes('#');
}

/**
 * A custom topic as plugins and their callers write it: relative to the device's `userPrefix`, or in full under it.
 * Gives the full topic, or the rule the key breaks: `empty`, or `outside` the prefix (the prefix alone included).
 */
export function resolveUserTopic(key: string, userPrefix: string): { topic: string } | { problem: 'empty' | 'outside' } {
  if (!key.startsWith('/')) return key === '' ? { problem: 'empty' } : { topic: userPrefix + key };
  if (!key.startsWith(userPrefix) || key.length === userPrefix.length) return { problem: 'outside' };
  return { topic: key };
}

/** What a topic is, from the device's point of view. */
export type TopicKind =
  | { kind: 'propertySet'; productKey: string; deviceName: string }
  | { kind: 'propertySetReply'; productKey: string; deviceName: string }
  | { kind: 'propertyPost'; productKey: string; deviceName: string }
  | { kind: 'propertyPostReply'; productKey: string; deviceName: string }
  | { kind: 'propertyBatchPost'; productKey: string; deviceName: string }
  | { kind: 'propertyBatchPostReply'; productKey: string; deviceName: string }
  | { kind: 'propertyHistoryPost'; productKey: string; deviceName: string }
  | { kind: 'propertyPackPost'; productKey: string; deviceName: string }
  | { kind: 'propertyHistoryPostReply'; productKey: string; deviceName: string }
  | { kind: 'eventPost'; productKey: string; deviceName: string; eventId: string }
  | { kind: 'eventPostReply'; productKey: string; deviceName: string; eventId: string }
  | { kind: 'service'; productKey: string; deviceName: string; serviceId: string }
  | { kind: 'serviceReply'; productKey: string; deviceName: string; serviceId: string }
  | { kind: 'rrpcRequest'; productKey: string; deviceName: string; messageId: string }
  | { kind: 'rrpcResponse'; productKey: string; deviceName: string; messageId: string }
  | { kind: 'extRrpc'; messageId: string; customTopic: string }
  | { kind: 'user'; productKey: string; deviceName: string; suffix: string }
  | { kind: 'other' };

/** Classifies a topic. Identifiers are whatever sits in their level; callers check them against the TSL. */
export function parseTopic(topic: string): TopicKind {
  const parts = topic.split('/');
  // parts[0] is '' because every Alink topic starts with '/'.
  if (parts[0] !== '') return { kind: 'other' };
  if (parts[1] === 'ext' && parts[2] === 'rrpc' && parts.length >= 5 && parts[3]) {
    return { kind: 'extRrpc', messageId: parts[3], customTopic: '/' + parts.slice(4).join('/') };
  }
  if (parts[1] === 'sys' && parts.length >= 6) {
    const productKey = parts[2] ?? '';
    const deviceName = parts[3] ?? '';
    const rest = parts.slice(4);
    const base = { productKey, deviceName };
    if (rest[0] === 'rrpc' && rest.length === 3 && rest[2]) {
      if (rest[1] === 'request') return { kind: 'rrpcRequest', ...base, messageId: rest[2] };
      if (rest[1] === 'response') return { kind: 'rrpcResponse', ...base, messageId: rest[2] };
    }
    if (rest[0] === 'thing' && rest.length === 5 && rest[1] === 'event' && rest[2] === 'property' && rest[3] === 'batch') {
      if (rest[4] === 'post') return { kind: 'propertyBatchPost', ...base };
      if (rest[4] === 'post_reply') return { kind: 'propertyBatchPostReply', ...base };
    }
    if (rest[0] === 'thing' && rest.length === 5 && rest[1] === 'event' && rest[2] === 'property' && rest[3] === 'pack' && rest[4] === 'post') return { kind: 'propertyPackPost', ...base };
    if (rest[0] === 'thing' && rest.length === 5 && rest[1] === 'event' && rest[2] === 'property' && rest[3] === 'history') {
      if (rest[4] === 'post') return { kind: 'propertyHistoryPost', ...base };
      if (rest[4] === 'post_reply') return { kind: 'propertyHistoryPostReply', ...base };
    }
    if (rest[0] === 'thing' && rest.length === 4 && rest[1] === 'event' && rest[2]) {
      if (rest[2] === 'property') {
        if (rest[3] === 'post') return { kind: 'propertyPost', ...base };
        if (rest[3] === 'post_reply') return { kind: 'propertyPostReply', ...base };
      } else {
        if (rest[3] === 'post') return { kind: 'eventPost', ...base, eventId: rest[2] };
        if (rest[3] === 'post_reply') return { kind: 'eventPostReply', ...base, eventId: rest[2] };
      }
    }
    if (rest[0] === 'thing' && rest[1] === 'service') {
      if (rest.length === 4 && rest[2] === 'property') {
        if (rest[3] === 'set') return { kind: 'propertySet', ...base };
        if (rest[3] === 'set_reply') return { kind: 'propertySetReply', ...base };
      }
      if (rest.length === 3 && rest[2]) {
        const id = rest[2];
        if (id.endsWith('_reply') && id.length > 6) return { kind: 'serviceReply', ...base, serviceId: id.slice(0, -6) };
        return { kind: 'service', ...base, serviceId: id };
      }
    }
    return { kind: 'other' };
  }
  if (parts.length >= 5 && parts[3] === 'user' && parts[1] && parts[2]) {
    return { kind: 'user', productKey: parts[1], deviceName: parts[2], suffix: parts.slice(4).join('/') };
  }
  return { kind: 'other' };
}

/**
 * The other device channels (docs/protocol/raw-data.md, remote-config.md, tags.md, log-upload.md): custom-format
 * data, remote configuration, tags and log upload. Every request topic `X` is answered on `X_reply`.
 */
export function channelTopics(id: DeviceIdentity) {
  const sys = `/sys/${id.productKey}/${id.deviceName}`;
  return {
    upRaw: `${sys}/thing/model/up_raw`,
    upRawReply: `${sys}/thing/model/up_raw_reply`,
    downRaw: `${sys}/thing/model/down_raw`,
    downRawReply: `${sys}/thing/model/down_raw_reply`,
    configGet: `${sys}/thing/config/get`,
    configGetReply: `${sys}/thing/config/get_reply`,
    configPush: `${sys}/thing/config/push`,
    configPushReply: `${sys}/thing/config/push_reply`,
    tagsUpdate: `${sys}/thing/deviceinfo/update`,
    tagsUpdateReply: `${sys}/thing/deviceinfo/update_reply`,
    tagsDelete: `${sys}/thing/deviceinfo/delete`,
    tagsDeleteReply: `${sys}/thing/deviceinfo/delete_reply`,
    logConfigGet: `${sys}/thing/config/log/get`,
    logConfigGetReply: `${sys}/thing/config/log/get_reply`,
    logConfigPush: `${sys}/thing/config/log/push`,
    logConfigPushReply: `${sys}/thing/config/log/push_reply`,
    logPost: `${sys}/thing/log/post`,
    logPostReply: `${sys}/thing/log/post_reply`,
  };
}

export type ChannelTopics = ReturnType<typeof channelTopics>;

/** The channel a `/sys/{pk}/{dn}/thing/...` topic belongs to (the keys of {@link channelTopics}). */
export type ChannelTopicName = keyof ChannelTopics;

/** Which {@link channelTopics} entry `topic` is, with its device; undefined for every other topic. */
export function parseChannelTopic(topic: string): { name: ChannelTopicName; productKey: string; deviceName: string } | undefined {
  // Index arithmetic, no split: the simulator asks this of every message a device sends.
  if (!topic.startsWith('/sys/')) return undefined;
  const a = topic.indexOf('/', 5);
  const b = a < 0 ? -1 : topic.indexOf('/', a + 1);
  if (a <= 5 || b <= a + 1) return undefined;
  const name = CHANNEL_SUFFIXES.get(topic.slice(b + 1));
  return name ? { name, productKey: topic.slice(5, a), deviceName: topic.slice(a + 1, b) } : undefined;
}

const CHANNEL_SUFFIXES: ReadonlyMap<string, ChannelTopicName> = (() => {
  const probe = channelTopics({ productKey: 'p', deviceName: 'd' });
  const m = new Map<string, ChannelTopicName>();
  for (const [k, v] of Object.entries(probe)) m.set(v.slice('/sys/p/d/'.length), k as ChannelTopicName);
  return m;
})();

/**
 * The device-state channels of one device (docs/protocol/desired-shadow.md, docs/protocol/ntp.md,
 * docs/protocol/property-get.md, docs/protocol/history-post.md): property get, desired values, the shadow, NTP
 * and the history post. Kept apart from {@link deviceTopics} so each channel's topics stay in one place.
 */
export function stateTopics(id: DeviceIdentity) {
  const sys = `/sys/${id.productKey}/${id.deviceName}`;
  const own = `${id.productKey}/${id.deviceName}`;
  return {
    propertyGet: `${sys}/thing/service/property/get`,
    propertyGetReply: `${sys}/thing/service/property/get_reply`,
    desiredGet: `${sys}/thing/property/desired/get`,
    desiredGetReply: `${sys}/thing/property/desired/get_reply`,
    desiredDelete: `${sys}/thing/property/desired/delete`,
    desiredDeleteReply: `${sys}/thing/property/desired/delete_reply`,
    /** Device → cloud: update, get and delete requests on the shadow. */
    shadowUpdate: `/shadow/update/${own}`,
    /** Cloud → device: replies and control messages. */
    shadowGet: `/shadow/get/${own}`,
    ntpRequest: `/ext/ntp/${own}/request`,
    ntpResponse: `/ext/ntp/${own}/response`,
    propertyHistoryPost: `${sys}/thing/event/property/history/post`,
    propertyHistoryPostReply: `${sys}/thing/event/property/history/post_reply`,
  };
}

export type StateTopics = ReturnType<typeof stateTopics>;
