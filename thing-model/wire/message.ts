/** Alink request and reply envelopes (docs/protocol/payloads.md). */

/** A request in either direction. `id` is a string of decimal digits, 0..4294967295. */
export interface AlinkRequest<P = unknown> {
  id: string;
  version: string;
  params: P;
  method?: string;
  sys?: { ack?: 0 | 1 };
}

/** The answer to a request: `id` copied verbatim from the request. */
export interface AlinkReply<D = unknown> {
  id: string;
  code: number;
  data: D;
  message?: string;
  method?: string;
  version?: string;
}

const MAX_ID = 4294967295;

/**
 * The Alink method names the agent and the simulator route on, in one place: nothing outside thing-model/ writes
 * a `thing.` method literal (a test scans agent/ and simulator/ for them).
 */
export const AlinkMethods = {
  /** Cloud → device: set property values (`thing/service/property/set`). */
  PROPERTY_SET: 'thing.service.property.set',
  /** The TSL's implicit property-get service; not a service a plugin implements. */
  PROPERTY_GET: 'thing.service.property.get',
  /** Device → cloud: post property values (`thing/event/property/post`). */
  PROPERTY_POST: 'thing.event.property.post',
  /** Device → cloud: many timestamps of one device (docs/protocol/sdk-compat.md §4); LinkSDK sends no method. */
  PROPERTY_BATCH_POST: 'thing.event.property.batch.post',
  /** Device → cloud: ask for the product's remote configuration file (docs/protocol/remote-config.md). */
  CONFIG_GET: 'thing.config.get',
  /** Cloud → device: a new remote configuration file (docs/protocol/remote-config.md). */
  CONFIG_PUSH: 'thing.config.push',
  /** Device → cloud: add or change device tags (docs/protocol/tags.md). */
  DEVICEINFO_UPDATE: 'thing.deviceinfo.update',
  /** Device → cloud: remove device tags (docs/protocol/tags.md). */
  DEVICEINFO_DELETE: 'thing.deviceinfo.delete',
  /** Device → cloud: ask whether log upload is on (docs/protocol/log-upload.md). */
  LOG_CONFIG_GET: 'thing.config.log.get',
  /** Cloud → device: log upload switched on or off (docs/protocol/log-upload.md). */
  LOG_CONFIG_PUSH: 'thing.config.log.push',
  /** Device → cloud: log lines (docs/protocol/log-upload.md). */
  LOG_POST: 'thing.log.post',
  /** Device → cloud: the desired values waiting for the device (docs/protocol/desired-shadow.md §1). */
  PROPERTY_DESIRED_GET: 'thing.property.desired.get',
  /** Device → cloud: clears desired values, each optionally only at its version (docs/protocol/desired-shadow.md §1). */
  PROPERTY_DESIRED_DELETE: 'thing.property.desired.delete',
  /** Device → cloud: values and events with their own times, possibly old (docs/protocol/history-post.md). */
  PROPERTY_HISTORY_POST: 'thing.event.property.history.post',
  /** Gateway → cloud: add, delete or read topology (docs/protocol/gateway.md). */
  TOPO_ADD: 'thing.topo.add',
  TOPO_DELETE: 'thing.topo.delete',
  TOPO_GET: 'thing.topo.get',
  /** Cloud → gateway: add topology for these sub-devices; topology changed. */
  TOPO_ADD_NOTIFY: 'thing.topo.add.notify',
  TOPO_CHANGE: 'thing.topo.change',
  /** Gateway → cloud: secrets of pre-registered sub-devices. */
  SUB_REGISTER: 'thing.sub.register',
  /** Gateway → cloud: sub-devices the gateway found. */
  LIST_FOUND: 'thing.list.found',
  /** Sub-device sessions; the platform routes these by topic and the SDKs disagree on `method` (docs/protocol/gateway.md). */
  COMBINE_LOGIN: 'combine.login',
  COMBINE_LOGOUT: 'combine.logout',
  COMBINE_BATCH_LOGIN: 'combine.batch.login',
  COMBINE_BATCH_LOGOUT: 'combine.batch.logout',
  /** Cloud → device: lifecycle notifications. */
  THING_DISABLE: 'thing.disable',
  THING_ENABLE: 'thing.enable',
  THING_DELETE: 'thing.delete',
  /** Gateway → cloud: its own and its sub-devices' values in one message. */
  PROPERTY_PACK_POST: 'thing.event.property.pack.post',
  /** Device → cloud: ask for a pending OTA job (docs/protocol/ota.md). */
  OTA_FIRMWARE_GET: 'thing.ota.firmware.get',
  /** Device → cloud: one block of a file over MQTT (docs/protocol/ota.md). */
  FILE_DOWNLOAD: 'thing.file.download',
} as const;

/** What every service call's method starts with (`thing.service.{identifier}`). */
export const SERVICE_METHOD_PREFIX = 'thing.service.';

/** The Alink `method` of a call to TSL service `serviceId`. */
export function serviceMethod(serviceId: string): string {
  return `${SERVICE_METHOD_PREFIX}${serviceId}`;
}

/** The TSL service identifier of a service-call method, or undefined when `method` is not a service call. */
export function serviceIdOf(method: string): string | undefined {
  return method.startsWith(SERVICE_METHOD_PREFIX) ? method.slice(SERVICE_METHOD_PREFIX.length) : undefined;
}

/** The Alink `method` of a post of TSL event `eventId`. */
export function eventMethod(eventId: string): string {
  return `thing.event.${eventId}.post`;
}

/** The event identifier of an event-post method (`thing.event.{id}.post`), or undefined. */
export function eventIdOf(method: string): string | undefined {
  const m = /^thing\.event\.([^./]+)\.post$/.exec(method);
  return m && m[1] !== 'property' ? m[1] : undefined;
}

/**
 * Per-device upstream message ids: decimal strings in 0..4294967295, unique for the day (the platform's rule).
 * Starts from a time-derived value so that a restarted process does not reuse the ids of its previous run.
 */
export class MessageIdGenerator {
  private next: number;

  constructor(seed: number = Date.now() % 1_000_000_000) {
    this.next = seed % MAX_ID;
  }

  nextId(): string {
    const id = this.next;
    this.next = this.next >= MAX_ID ? 0 : this.next + 1;
    return String(id);
  }
}

/** True for a decimal-digit string in the platform's id range. */
export function isAlinkId(id: unknown): id is string {
  return typeof id === 'string' && /^[0-9]{1,10}$/.test(id) && Number(id) <= MAX_ID;
}
