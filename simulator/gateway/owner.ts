/** The device a concrete Alink topic (or a filter with a fixed identity) belongs to, as simulator/mqtt/acl.ts reads it. */
import type { DeviceId } from '../mqtt/acl';

/** A non-empty level that is no wildcard (the broker asks this of every sub-device message: no regex, no concatenation). */
const fixed = (level: string | undefined): boolean => !!level && !level.includes('+') && !level.includes('#');

export function topicOwner(topic: string): DeviceId | undefined {
  const l = topic.split('/');
  if (l[0] !== '') return undefined;
  let o = 1;
  if (l[1] === 'ext' && l[2] === 'rrpc') o = 4;
  const at = (i: number): DeviceId | undefined => (fixed(l[i]) && fixed(l[i + 1]) ? { productKey: l[i]!, deviceName: l[i + 1]! } : undefined);
  if (l[o] === 'sys') return at(o + 1);
  // `/ota/device/{kind}/{pk}/{dn}`: a gateway informs and reports progress for its sub-devices on their own (C4).
  if (o === 1 && l[1] === 'ota' && l[2] === 'device' && l.length === 6) return at(4);
  if (o === 1 && l[1] === 'ext' && (l[2] === 'ntp' || l[2] === 'error' || l[2] === 'session')) return at(3);
  if (o === 1 && l[1] === 'shadow') return at(3);
  if (l[o + 2] === 'user') return at(o);
  return undefined;
}
