/**
 * Per-device topic permissions: a device publishes and subscribes only to its own topics
 * (docs/protocol/topics.md, "Subscriptions" and the topic tables): `/sys/{pk}/{dn}/...`, `/{pk}/{dn}/user/...`, `/ext/rrpc/{id}/{own topic}`,
 * `/ext/ntp|session|error/{pk}/{dn}/...`, `/shadow/{op}/{pk}/{dn}`, `/ota/device/{inform|upgrade|progress|request}/{pk}/{dn}`
 * (docs/protocol/ota-platform.md, "Device side") and `/broadcast/{pk}/...`.
 * In a subscription, wildcards may stand only where the device's own identity is already fixed.
 */
import type { DeviceIdentity } from '../../thing-model/wire';

/** A device by product key and name: the wire helpers' {@link DeviceIdentity}. */
export type DeviceId = DeviceIdentity;

const OTA_KINDS = new Set(['inform', 'upgrade', 'progress', 'request']);

const isWild = (level: string | undefined) => level === '+' || level === '#';

/** Levels after the fixed prefix: at least one; '#' only last; wildcards only in filters. */
function restOk(rest: string[], filter: boolean): boolean {
  if (rest.length === 0) return false;
  return rest.every((l, i) => (filter ? (l === '#' ? i === rest.length - 1 : l === '+' || !/[+#]/.test(l)) : !/[+#]/.test(l)));
}

/** `levels` starts after the leading '' (every Alink topic starts with '/'). */
function ownTopic(levels: string[], id: DeviceId, filter: boolean): boolean {
  const [a, b, c, d] = levels;
  const pk = id.productKey;
  const dn = id.deviceName;
  if (a === 'sys') return b === pk && c === dn && restOk(levels.slice(3), filter);
  if (a === pk && b === dn && c === 'user') return restOk(levels.slice(3), filter);
  if (a === 'broadcast') return b === pk && restOk(levels.slice(2), filter);
  if (a === 'shadow') return (b === 'update' || b === 'get') && c === pk && d === dn && levels.length === 4;
  if (a === 'ota') return b === 'device' && OTA_KINDS.has(c ?? '') && d === pk && levels[4] === dn && levels.length === 5;
  if (a === 'ext') {
    if (b === 'ntp' || b === 'session') return c === pk && d === dn && restOk(levels.slice(4), filter);
    if (b === 'error') return c === pk && d === dn && (levels.length === 4 || restOk(levels.slice(4), filter));
    if (b === 'rrpc') {
      // The message id level may be '+' in a filter; what follows must be one of the device's own topics.
      if (c === undefined || c === '' || c === '#' || (!filter && isWild(c))) return false;
      return ownTopic(levels.slice(3), id, filter);
    }
  }
  return false;
}

function split(topic: string): string[] | undefined {
  if (!topic.startsWith('/')) return undefined;
  return topic.split('/').slice(1);
}

export function mayPublish(topic: string, id: DeviceId): boolean {
  const levels = split(topic);
  return !!levels && ownTopic(levels, id, false);
}

export function maySubscribe(filter: string, id: DeviceId): boolean {
  const levels = split(filter);
  return !!levels && ownTopic(levels, id, true);
}
