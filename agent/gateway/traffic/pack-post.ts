/**
 * The gateway's pack post (docs/protocol/gateway-traffic.md, "Pack post"): several sub-devices' properties and events
 * in one `thing.event.property.pack.post` on the gateway's own topic, within the platform's limits, every value checked
 * against its device's Thing Model first. The platform takes or refuses the whole message, so one bad entry here
 * refuses it before it is sent.
 */
import type { CompiledThingModel } from '../../../thing-model';
import { ValidationError } from '../../../thing-model/codes';
import { AlinkMethods, PACK_POST_LIMITS, type DeviceIdentity } from '../../../thing-model/wire';
import type { PackPostEntry } from '../../../handlers/api';

type Timed = { value: unknown; time: number };

export interface PackParams {
  properties: Record<string, Timed>;
  events: Record<string, Timed>;
  subDevices: { identity: DeviceIdentity; properties: Record<string, Timed>; events: Record<string, Timed> }[];
}

function refuse(field: string, expected: string, received: unknown): ValidationError {
  const shown = JSON.stringify(received)?.slice(0, 80) ?? String(received);
  const message = `${field}: expected ${expected}, received ${shown}`;
  return new ValidationError([{ field, reason: 'range', expected, received: shown, message }], message);
}

/** The params to send, or the ValidationError naming the first bad entry. */
export function checkPack(entries: readonly PackPostEntry[], modelOf: (d: DeviceIdentity) => CompiledThingModel | undefined, now: number): PackParams | ValidationError {
  if (!Array.isArray(entries) || entries.length === 0 || entries.length > PACK_POST_LIMITS.subDevices) {
    return refuse('entries', `1..${PACK_POST_LIMITS.subDevices} sub-devices`, Array.isArray(entries) ? entries.length : entries);
  }
  const out: PackParams = { properties: {}, events: {}, subDevices: [] };
  let properties = 0;
  let events = 0;
  const seen = new Set<string>();
  for (const [i, e] of entries.entries()) {
    const at = `entries[${i}]`;
    const model = e?.device ? modelOf(e.device) : undefined;
    const key = `${e?.device?.productKey}/${e?.device?.deviceName}`;
    if (!model) return refuse(`${at}.device`, 'a sub-device the agent knows', key);
    if (seen.has(key)) return refuse(`${at}.device`, 'each sub-device once per pack', key);
    seen.add(key);
    const time = e.time ?? now;
    if (!Number.isSafeInteger(time)) return refuse(`${at}.time`, 'epoch milliseconds', e.time);
    const part = { identity: { productKey: e.device.productKey, deviceName: e.device.deviceName }, properties: {} as Record<string, Timed>, events: {} as Record<string, Timed> };
    if (e.properties && Object.keys(e.properties).length > 0) {
      const v = model.validatePropertyPost(e.properties);
      if (!v.ok) return new ValidationError(v.errors, `${at}.properties: ${v.message}`);
      for (const [id, value] of Object.entries(v.value as Record<string, unknown>)) part.properties[id] = { value, time };
      properties += Object.keys(part.properties).length;
    }
    for (const [id, value] of Object.entries(e.events ?? {})) {
      const def = model.event(id);
      if (!def || def.method === AlinkMethods.PROPERTY_POST) return refuse(`${at}.events.${id}`, 'an event of the Thing Model', id);
      const v = model.validateEventOutput(id, value);
      if (!v.ok) return new ValidationError(v.errors, `${at}.events.${id}: ${v.message}`);
      part.events[id] = { value: v.value, time };
      events++;
    }
    if (Object.keys(part.properties).length + Object.keys(part.events).length === 0) return refuse(at, 'at least one property or event', e);
    out.subDevices.push(part);
  }
  if (properties > PACK_POST_LIMITS.properties) return refuse('entries', `at most ${PACK_POST_LIMITS.properties} properties in all`, properties);
  if (events > PACK_POST_LIMITS.events) return refuse('entries', `at most ${PACK_POST_LIMITS.events} events in all`, events);
  return out;
}
