/**
 * What becomes of a property or event post that waited in the outbox longer than the platform takes ordinary posts
 * for (docs/protocol/history-post.md): it goes out as one `thing.event.property.history.post` carrying the same
 * values with the times they were taken, or, by policy, it is dropped and counted. Batch posts carry their own times
 * and are what the platform names for old data, so they go out unchanged, as does everything else.
 */
import type { Logger } from 'pino';
import type { CompiledThingModel } from '../../thing-model';
import { AlinkMethods, deviceTopics, eventMethod, stateTopics, type DeviceIdentity } from '../../thing-model/wire';
import type { AgedPolicy } from '../outbox';

export type AgedPostPolicy = 'history' | 'drop';

export interface AgedPostOptions {
  model: CompiledThingModel;
  identity: DeviceIdentity;
  /** A post accepted this long ago (ms) or longer is rewritten or dropped when it is (re)sent. */
  afterMs: number;
  policy: AgedPostPolicy;
  /**
   * The platform's time for a moment of the system clock (the outbox stamps acceptance with the system clock; the
   * agent's NTP offset corrects it).
   */
  toPlatformTime(systemMs: number): number;
  logger: Logger;
  /** How often (ms) a summary line of rewritten posts is logged at most. Default 10 s. */
  logEveryMs?: number;
}

// `thing.event.{id}.post`, split around the identifier.
const [EVENT_PREFIX, POST_SUFFIX] = eventMethod('\u0000').split('\u0000') as [string, string];

interface PostEnvelope {
  id: string;
  version?: string;
  sys?: unknown;
  params: unknown;
  method: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `{value, time?}` as the post's own timed form (docs/protocol/payloads.md, "Property post"). */
function isTimed(v: unknown): v is { value: unknown; time?: unknown } {
  if (!isObject(v) || !Object.prototype.hasOwnProperty.call(v, 'value')) return false;
  for (const k in v) if (k !== 'value' && k !== 'time') return false;
  return true;
}

/** The inner text of `{"params":X}` as the model's float-aware serializer wrote it. */
function paramsText(envelopeText: string): string {
  return envelopeText.slice('{"params":'.length, -1);
}

/**
 * The outbox's aged-message policy for this device's posts. The returned `rewrite` never throws: a payload it cannot
 * read goes out unchanged, so nothing accepted is lost by a rewrite.
 */
export function agedPostPolicy(o: AgedPostOptions): AgedPolicy {
  const historyTopic = stateTopics(o.identity).propertyHistoryPost;
  const identityText = JSON.stringify({ productKey: o.identity.productKey, deviceName: o.identity.deviceName });
  const postTopic = deviceTopics(o.identity).propertyPost;
  const logEveryMs = o.logEveryMs ?? 10_000;
  let rewritten = 0;
  let loggedAt = 0;

  const note = (): void => {
    rewritten++;
    const now = Date.now();
    if (now - loggedAt < logEveryMs) return;
    loggedAt = now;
    o.logger.info({ rewritten, afterMs: o.afterMs }, 'posts that waited past the platform window were sent as history posts');
  };

  const propertyItems = (params: unknown, time: number): string[] | undefined => {
    if (!isObject(params)) return undefined;
    const items: string[] = [];
    for (const [k, v] of Object.entries(params)) {
      const item = isTimed(v) ? { value: v.value, time: typeof v.time === 'number' ? v.time : time } : { value: v, time };
      items.push(paramsText(o.model.stringifyPropertyPost({ params: { [k]: item } })));
    }
    return items;
  };

  const eventItem = (eventId: string, params: unknown, time: number): string | undefined => {
    if (!isObject(params)) return undefined;
    // The documented form is {value, time}; a bare output object is the value itself.
    const timed = isTimed(params) ? params : { value: params };
    const item = { value: timed.value, time: typeof timed.time === 'number' ? timed.time : time };
    return `{${JSON.stringify(eventId)}:${paramsText(o.model.stringifyEventPost(eventId, { params: item }))}}`;
  };

  const toHistory = (env: PostEnvelope, createdAt: number): Buffer | undefined => {
    const time = o.toPlatformTime(createdAt);
    let properties: string[] = [];
    let events: string[] = [];
    if (env.method === AlinkMethods.PROPERTY_POST) {
      const items = propertyItems(env.params, time);
      if (!items) return undefined;
      properties = items;
    } else {
      const item = eventItem(env.method.slice(EVENT_PREFIX.length, -POST_SUFFIX.length), env.params, time);
      if (item === undefined) return undefined;
      events = [item];
    }
    const head = `{"id":${JSON.stringify(env.id)},"version":${JSON.stringify(env.version ?? '1.0')}`;
    const sys = env.sys === undefined ? '' : `,"sys":${JSON.stringify(env.sys)}`;
    const block = `{"identity":${identityText},"properties":[${properties.join(',')}],"events":[${events.join(',')}]}`;
    return Buffer.from(`${head}${sys},"params":[${block}],"method":"${AlinkMethods.PROPERTY_HISTORY_POST}"}`);
  };

  /** The post's envelope when it is a property post or an event post of this device; otherwise undefined. */
  const readPost = (topic: string, payload: Buffer): PostEnvelope | undefined => {
    if (!topic.endsWith('/post') || !topic.includes('/thing/event/')) return undefined;
    let env: unknown;
    try {
      env = JSON.parse(payload.toString('utf8'));
    } catch {
      return undefined;
    }
    if (!isObject(env) || typeof env.id !== 'string' || typeof env.method !== 'string') return undefined;
    const m = env.method;
    const isProperty = m === AlinkMethods.PROPERTY_POST && topic === postTopic;
    const isEvent = !isProperty && m.startsWith(EVENT_PREFIX) && m.endsWith(POST_SUFFIX) && !m.startsWith(AlinkMethods.PROPERTY_POST.slice(0, -POST_SUFFIX.length));
    return isProperty || isEvent ? (env as unknown as PostEnvelope) : undefined;
  };

  return {
    afterMs: o.afterMs,
    classes: ['property', 'event'],
    rewrite(row) {
      const env = readPost(row.topic, row.payload);
      if (!env) return { topic: row.topic, payload: row.payload };
      if (o.policy === 'drop') return undefined;
      const payload = toHistory(env, row.createdAt);
      if (!payload) return { topic: row.topic, payload: row.payload };
      note();
      return { topic: historyTopic, payload };
    },
  };
}
