/**
 * `thing/service/property/get` (docs/protocol/property-get.md): `params` is a list of property identifiers; the
 * reply carries the current value of each, asked of the plugin owning it (`PropertyClaim.get`). An identifier the
 * Thing Model does not have refuses the whole request with 460 naming it; one whose owner has no value (or no
 * `get`) is left out of `data`, as the platform leaves out properties without a value.
 */
import { AlinkCodes } from '../../thing-model/codes';
import { AlinkMethods, stateTopics } from '../../thing-model/wire';
import type { PluginSlot } from '../plugins/registry';
import type { InboundMessage } from '../transport';
import { Call, runHandler } from './call';
import { secondsSince, type RouterCore } from './core';
import { replyCodeOf } from './replies';

const METHOD = AlinkMethods.PROPERTY_GET;

type Get = (ids: readonly string[], call: Call) => Record<string, unknown> | PromiseLike<Record<string, unknown>>;

export class PropertyGetRoute {
  readonly topic: string;
  private readonly replyTopic: string;

  constructor(private readonly core: RouterCore) {
    const t = stateTopics(core.identity);
    this.topic = t.propertyGet;
    this.replyTopic = t.propertyGetReply;
  }

  async handle(msg: InboundMessage, receivedAt: number, startPerf: number): Promise<void> {
    const core = this.core;
    core.observer?.messageIn('propertyGet');
    const env = parseGet(msg.payload);
    if ('error' in env) {
      core.logger.warn({ reason: env.error }, 'malformed property get');
      await core.replier.error(this.replyTopic, env.id, AlinkCodes.PARAM_ERROR, env.error, 1);
    } else {
      const r = await this.values(env.ids, env.id, receivedAt);
      if ('code' in r) await core.replier.error(this.replyTopic, env.id, r.code, r.message, 1);
      else await core.replier.send(this.replyTopic, JSON.stringify({ id: env.id, code: AlinkCodes.SUCCESS, data: r.data }), 1);
    }
    core.observer?.handlerDone('propertyGet', secondsSince(startPerf));
  }

  /** The current values of `ids`, one `get` per owning plugin; or the code and message of the refusal. */
  async values(ids: readonly string[], id: string, receivedAt: number): Promise<{ data: Record<string, unknown> } | { code: number; message: string }> {
    const { model, registry } = this.core;
    const groups = new Map<PluginSlot, string[]>();
    for (const p of ids) {
      if (!model.property(p)) return { code: AlinkCodes.PARAM_ERROR, message: `params: ${p} is not a property of the Thing Model` };
      const slot = registry.properties.get(p);
      if (!slot || slot.state !== 'running' || !slot.instance.properties?.get) continue;
      let g = groups.get(slot);
      if (!g) groups.set(slot, (g = []));
      g.push(p);
    }
    const deadline = receivedAt + this.core.asyncTimeoutMs;
    const data: Record<string, unknown> = {};
    for (const [slot, part] of groups) {
      const call = new Call('propertyGet', id, receivedAt, deadline, slot.logger, this.core.device);
      const o = await runHandler(slot.instance.properties!.get as Get, part, call, this.core.pending);
      if (!o.ok) {
        const f = o.expired !== undefined ? { code: AlinkCodes.REQUEST_ERROR, message: o.expired } : replyCodeOf(o.error);
        slot.logger.warn({ properties: part, code: f.code }, 'property get answered with an error');
        return f;
      }
      for (const p of part) {
        const v = (o.value as Record<string, unknown> | undefined)?.[p];
        if (v === undefined) continue;
        // A plugin's value goes to the cloud only when it fits the Thing Model.
        const checked = model.validatePropertyPost({ [p]: v });
        if (checked.ok) data[p] = v;
        else slot.logger.warn({ property: p, reason: checked.message }, 'property get: the plugin returned a value outside the Thing Model; left out');
      }
    }
    return { data };
  }
}

const MAX_IDS = 200;

/** `{"id":"..","params":["a","b"]}`; `params` is a list here, so the shared envelope check does not fit. */
function parseGet(payload: Buffer): { id: string; ids: string[] } | { id: string; error: string } {
  let obj: unknown;
  try {
    obj = JSON.parse(payload.toString('utf8'));
  } catch {
    return { id: '', error: 'payload: not valid JSON' };
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return { id: '', error: 'payload: must be a JSON object' };
  const o = obj as { id?: unknown; method?: unknown; params?: unknown };
  const id = typeof o.id === 'string' && /^[0-9]{1,10}$/.test(o.id) ? o.id : '';
  if (id === '') return { id, error: `id: must be a string of decimal digits, received ${JSON.stringify(o.id)}` };
  if (o.method !== undefined && o.method !== METHOD) return { id, error: `method: expected ${METHOD}, got ${String(o.method)}` };
  const p = o.params;
  if (!Array.isArray(p) || p.length === 0 || p.length > MAX_IDS || !p.every((x) => typeof x === 'string')) {
    return { id, error: `params: expected a list of 1..${MAX_IDS} property identifiers, received ${JSON.stringify(p)?.slice(0, 80)}` };
  }
  return { id, ids: [...new Set(p as string[])] };
}
