/**
 * TSL services. Async calls arrive on `thing/service/{id}` and are answered on `{id}_reply`; the shared
 * `invokeService` also answers sync calls that RRPC delivers (rrpc.ts). Input is validated against
 * `inputData` before the handler runs, output against `outputData` before it is sent.
 */
import { IMPLICIT_METHODS, serviceHandlerOf } from '../plugins/registry';
import { AlinkCodes } from '../../thing-model/codes';
import { serviceMethod } from '../../thing-model/wire';
import type { InboundMessage } from '../transport';
import { Call, runHandler } from './call';
import { secondsSince, type RouterCore } from './core';
import type { RequestEnvelope } from './envelope';
import type { InboundKind } from './observer';
import { replyCodeOf } from './replies';

/** Where and how a service call is answered. */
export interface ServiceTarget {
  topic: string;
  qos: 0 | 1;
  /** De-dup key (`service:{id}:{alinkId}` or `rrpc:{messageId}`). */
  cacheKey: string;
  kind: InboundKind;
  /** RRPC transport: counts budget misses. */
  rrpc: boolean;
}

/** Validates, calls the claiming plugin within `deadline`, validates its output and replies exactly once. */
export async function invokeService(
  core: RouterCore,
  serviceId: string,
  env: RequestEnvelope,
  t: ServiceTarget,
  receivedAt: number,
  deadline: number,
): Promise<void> {
  const { replier } = core;
  const id = env.id;
  const svc = core.model.service(serviceId);
  if (!svc || IMPLICIT_METHODS.has(svc.method)) return replier.error(t.topic, id, AlinkCodes.PARAM_ERROR, `${serviceId}: unknown service`, t.qos, t.cacheKey);
  const input = core.model.validateServiceInput(serviceId, env.params);
  if (!input.ok) return replier.error(t.topic, id, AlinkCodes.PARAM_ERROR, input.message, t.qos, t.cacheKey);

  const slot = core.registry.services.get(serviceId);
  const fn = slot && serviceHandlerOf(slot.instance, serviceId);
  if (!slot || !fn) return replier.error(t.topic, id, AlinkCodes.REQUEST_ERROR, `${serviceId}: no plugin implements this service`, t.qos, t.cacheKey);
  // Not cached: the plugin may be back by the time the platform redelivers.
  if (slot.state !== 'running') return replier.error(t.topic, id, AlinkCodes.TOO_MANY_REQUESTS, `${serviceId}: plugin "${slot.name}" is not running`, t.qos);

  const call = new Call(t.rrpc ? 'rrpc' : 'service', id, receivedAt, deadline, slot.logger, core.device);
  call.service = serviceId;
  let o = runHandler(fn as unknown as (a: unknown, c: Call) => unknown, input.value, call, core.pending);
  if (o instanceof Promise) o = await o;
  if (!o.ok) {
    if (o.expired !== undefined) {
      if (t.rrpc) core.observer?.rrpcBudgetMiss();
      slot.logger.warn({ service: serviceId, id, reason: o.expired }, 'service call answered with an error: handler too slow');
      return replier.error(t.topic, id, AlinkCodes.REQUEST_ERROR, o.expired, t.qos, t.cacheKey);
    }
    const { code, message } = replyCodeOf(o.error);
    slot.logger.warn({ service: serviceId, id, code, err: o.error }, 'service handler failed');
    return replier.error(t.topic, id, code, message, t.qos, t.cacheKey);
  }
  const out = core.model.validateServiceOutput(serviceId, o.value ?? {});
  if (!out.ok) {
    slot.logger.error({ service: serviceId, id, errors: out.errors }, 'service handler returned output that violates outputData (plugin bug)');
    return replier.error(t.topic, id, AlinkCodes.REQUEST_ERROR, `invalid output of ${serviceId}: ${out.message}`, t.qos, t.cacheKey);
  }
  return replier.send(t.topic, core.model.stringifyServiceReply(serviceId, { id, code: AlinkCodes.SUCCESS, data: out.value }), t.qos, t.cacheKey);
}

/** Async services on `thing/service/{id}`. */
export class AsyncServiceRoute {
  private readonly replyTopics = new Map<string, string>();

  constructor(private readonly core: RouterCore) {
    for (const s of core.model.model.services) {
      if (!IMPLICIT_METHODS.has(s.method)) this.replyTopics.set(s.identifier, core.topics.serviceReply(s.identifier));
    }
  }

  /** The services whose request topics the agent subscribes to. */
  serviceIds(): string[] {
    return [...this.replyTopics.keys()];
  }

  async handle(msg: InboundMessage, serviceId: string, receivedAt: number, startPerf: number): Promise<void> {
    const core = this.core;
    core.observer?.messageIn('service');
    const topic = this.replyTopics.get(serviceId) ?? core.topics.serviceReply(serviceId);
    const env = core.envelope.parse(msg.payload);
    if (!env.ok) {
      core.logger.warn({ topic: msg.topic, reason: env.message }, 'malformed service request');
      await core.replier.error(topic, env.id, AlinkCodes.PARAM_ERROR, env.message, 1);
      return core.observer?.handlerDone('service', secondsSince(startPerf));
    }
    const req = env.value;
    const key = `service:${serviceId}:${req.id}`;
    if (core.replier.replay(key, 1) || core.inflight.has(key)) return;
    core.inflight.add(key);
    try {
      if (req.method !== undefined && req.method !== serviceMethod(serviceId)) {
        await core.replier.error(topic, req.id, AlinkCodes.PARAM_ERROR, `method: expected ${serviceMethod(serviceId)}, got ${req.method}`, 1, key);
      } else {
        const deadline = receivedAt + core.asyncTimeoutMs;
        await invokeService(core, serviceId, req, { topic, qos: 1, cacheKey: key, kind: 'service', rrpc: false }, receivedAt, deadline);
      }
    } finally {
      core.inflight.delete(key);
    }
    core.observer?.handlerDone('service', secondsSince(startPerf));
  }
}
