/**
 * `thing/service/property/set`: the whole request is validated before anything is applied (one bad value
 * rejects it all with 460, docs/protocol/payloads.md, "Property set and its reply"); valid values go to their owning plugins, one call per
 * plugin; then, only once every owner's `apply` resolved (a 200 means the new state is durable, handlers/README.md),
 * `set_reply`; then, under the post-after-set policy, the new values join the next coalesced
 * property post (post-after-set.ts) so the cloud's view is current.
 */
import { AlinkCodes } from '../../thing-model/codes';
import { AlinkMethods } from '../../thing-model/wire';
import type { PluginSlot } from '../plugins/registry';
import type { InboundMessage } from '../transport';
import { Call, runHandler, type Outcome } from './call';
import { secondsSince, type RouterCore } from './core';
import type { RequestEnvelope } from './envelope';
import type { SetPostCoalescer } from './post-after-set';
import { okEmptyReply, replyCodeOf } from './replies';

const METHOD = AlinkMethods.PROPERTY_SET;

type Apply = (values: Record<string, unknown>, call: Call) => void | PromiseLike<void>;

export class PropertySetRoute {
  private readonly replyTopic: string;

  constructor(
    private readonly core: RouterCore,
    /** Where the new values of successful sets go; undefined when the post-after-set policy is off. */
    private readonly posts: SetPostCoalescer | undefined,
  ) {
    this.replyTopic = core.topics.propertySetReply;
  }

  async handle(msg: InboundMessage, receivedAt: number, startPerf: number): Promise<void> {
    const core = this.core;
    core.observer?.messageIn('propertySet');
    const env = core.envelope.parse(msg.payload);
    if (!env.ok) {
      core.logger.warn({ reason: env.message }, 'malformed property set');
      await core.replier.error(this.replyTopic, env.id, AlinkCodes.PARAM_ERROR, env.message, 1);
    } else {
      const key = 'set:' + env.value.id;
      if (core.replier.replay(key, 1) || core.inflight.has(key)) return;
      core.inflight.add(key);
      try {
        await this.apply(env.value, key, receivedAt);
      } finally {
        core.inflight.delete(key);
      }
    }
    core.observer?.handlerDone('propertySet', secondsSince(startPerf));
  }

  private async apply(req: RequestEnvelope, key: string, receivedAt: number): Promise<void> {
    const { replier } = this.core;
    const topic = this.replyTopic;
    if (req.method !== undefined && req.method !== METHOD) {
      return replier.error(topic, req.id, AlinkCodes.PARAM_ERROR, `method: expected ${METHOD}, got ${req.method}`, 1, key);
    }
    const v = this.core.model.validatePropertySet(req.params);
    if (!v.ok) return replier.error(topic, req.id, AlinkCodes.PARAM_ERROR, v.message, 1, key);
    const values = v.value as Record<string, unknown>;
    let failure = this.applyValidated(values, req.id, receivedAt);
    if (failure instanceof Promise) failure = await failure;
    if (failure) return replier.error(topic, req.id, failure.code, failure.message, 1, key);

    await replier.send(topic, okEmptyReply(req.id), 1, key);
    // Added after the reply was handed on, so the post that carries these values leaves after it.
    if (Object.keys(values).length > 0) this.posts?.add(values);
  }

  /**
   * Applies values the Thing Model already accepted, through their owning plugins: the one path of every change
   * of property values (property set, desired values, shadow control). Undefined when all were applied;
   * synchronous when the handler is.
   */
  applyValidated(values: Record<string, unknown>, id: string, receivedAt: number): Failure | undefined | Promise<Failure | undefined> {
    const { registry } = this.core;
    // Every owner must be able to take its values before any of them is called.
    let first: PluginSlot | undefined;
    let mixed = false;
    for (const k in values) {
      const slot = registry.properties.get(k);
      if (!slot) return { code: AlinkCodes.REQUEST_ERROR, message: `${k}: no plugin applies this property` };
      if (slot.state !== 'running') return { code: AlinkCodes.TOO_MANY_REQUESTS, message: `${k}: plugin "${slot.name}" is not running` };
      if (first === undefined) first = slot;
      else if (slot !== first) mixed = true;
    }
    if (first === undefined) return undefined;
    const deadline = receivedAt + this.core.asyncTimeoutMs;
    return mixed ? this.applyGroups(values, id, receivedAt, deadline) : this.applyOne(first, values, id, receivedAt, deadline);
  }

  /** After an internal apply (desired values, shadow control): the new values join the coalesced post. */
  postApplied(values: Record<string, unknown>): void {
    if (Object.keys(values).length > 0) this.posts?.add(values);
  }

  /**
   * Synchronous when the handler is: no promise then. The property store's is not (it resolves once its values are
   * durable), and the caller sends the reply only after the outcome, so a 200 always follows a finished apply.
   */
  private applyOne(slot: PluginSlot, values: Record<string, unknown>, id: string, receivedAt: number, deadline: number): Failure | undefined | Promise<Failure | undefined> {
    const apply = slot.instance.properties?.apply as Apply | undefined;
    if (!apply) return { code: AlinkCodes.REQUEST_ERROR, message: `plugin "${slot.name}" has no property handler` };
    const call = new Call('propertySet', id, receivedAt, deadline, slot.logger, this.core.device);
    const o = runHandler(apply, values, call, this.core.pending);
    return o instanceof Promise ? o.then((r) => failureOf(r, slot, values)) : failureOf(o, slot, values);
  }

  private async applyGroups(values: Record<string, unknown>, id: string, receivedAt: number, deadline: number): Promise<Failure | undefined> {
    const groups = new Map<PluginSlot, Record<string, unknown>>();
    for (const k in values) {
      const slot = this.core.registry.properties.get(k) as PluginSlot;
      let g = groups.get(slot);
      if (!g) groups.set(slot, (g = {}));
      g[k] = values[k];
    }
    const results = await Promise.all([...groups].map(([slot, part]) => this.applyOne(slot, part, id, receivedAt, deadline)));
    return results.find((f) => f !== undefined);
  }
}

export interface Failure {
  code: number;
  message: string;
}

function failureOf(o: Outcome<unknown>, slot: PluginSlot, values: Record<string, unknown>): Failure | undefined {
  if (o.ok) return undefined;
  const ids = Object.keys(values);
  if (o.expired !== undefined) {
    slot.logger.warn({ properties: ids, reason: o.expired }, 'property set answered with an error: handler too slow');
    return { code: AlinkCodes.REQUEST_ERROR, message: o.expired };
  }
  const f = replyCodeOf(o.error);
  slot.logger.warn({ properties: ids, code: f.code, err: o.error }, 'property handler refused the set');
  return f;
}
