/**
 * Per-device topic permissions: a device publishes and subscribes only to its own topics
 * (docs/protocol/topics.md, "Subscriptions" and the topic tables): `/sys/{pk}/{dn}/...`, `/{pk}/{dn}/user/...`, `/ext/rrpc/{id}/{own topic}`,
 * `/ext/ntp|session|error/{pk}/{dn}/...`, `/shadow/{op}/{pk}/{dn}` and `/broadcast/{pk}/...`; the OTA topics below
 * (docs/protocol/ota-platform.md, "Device side").
 * In a subscription, wildcards may stand only where the device's own identity is already fixed.
 * The OTA topics `/ota/device/{kind}/{pk}/{dn}` have a direction (docs/protocol/topics.md, "OTA topics"): the device
 * publishes `inform`, `progress` and `request` and subscribes to (receives) `upgrade` only; its `/sys` OTA topics
 * (`thing/ota/firmware/get`, `thing/file/download` and their replies) follow the `/sys` rule.
 */
import type { DeviceIdentity } from '../../thing-model/wire';

/** A device by product key and name: the wire helpers' {@link DeviceIdentity}. */
export type DeviceId = DeviceIdentity;

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

const OTA_UP = new Set(['inform', 'progress', 'request']);
const OTA_DOWN = 'upgrade';

/** `/ota/device/{kind}/{pk}/{dn}`, exactly (no wildcards, no more levels), of a kind going that way. */
function otaTopic(levels: string[], id: DeviceId, up: boolean): boolean {
  const [a, b, kind, pk, dn] = levels;
  if (a !== 'ota' || b !== 'device' || levels.length !== 5 || pk !== id.productKey || dn !== id.deviceName) return false;
  return up ? OTA_UP.has(kind!) : kind === OTA_DOWN;
}

function split(topic: string): string[] | undefined {
  if (!topic.startsWith('/')) return undefined;
  return topic.split('/').slice(1);
}

export function mayPublish(topic: string, id: DeviceId): boolean {
  const levels = split(topic);
  return !!levels && (ownTopic(levels, id, false) || otaTopic(levels, id, true));
}

export function maySubscribe(filter: string, id: DeviceId): boolean {
  const levels = split(filter);
  return !!levels && (ownTopic(levels, id, true) || otaTopic(levels, id, false));
}

/** Whether a platform publish on `topic` may reach the device (its own topics; of the OTA ones, `upgrade`). */
export function mayReceive(topic: string, id: DeviceId): boolean {
  const levels = split(topic);
  return !!levels && (ownTopic(levels, id, false) || otaTopic(levels, id, false));
}
