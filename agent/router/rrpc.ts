/**
 * RRPC (docs/protocol/rrpc.md), answered at QoS 0 within the caller's budget:
 * - `/sys/{pk}/{dn}/rrpc/request/{messageId}`: an Alink request with method `thing.service.{id}` is a sync
 *   service call (reply on `/rrpc/response/{messageId}`); anything else is raw RRPC for the plugin that claims it.
 * - `/ext/rrpc/{messageId}/sys/{pk}/{dn}/thing/service/{id}`: the ext form of a sync service call.
 * - `/ext/rrpc/{messageId}/{customTopic}`: custom-topic RRPC, bytes in and out.
 * Ext forms are answered on the request topic itself, so the broker hands the answer back to us (no
 * no-local in MQTT 3.1.1): a short memory of answered topics keeps the echo from being taken as a request.
 * Pending work is keyed by messageId, never by service name (the Node SDK's bug, docs/protocol/sdk-faults.md, "Node SDK").
 */
import type { RrpcHandler, RrpcRequest } from '../../handlers/api';
import { AlinkCodes } from '../../thing-model/codes';
import { SERVICE_METHOD_PREFIX, serviceIdOf, serviceMethod } from '../../thing-model/wire';
import { rrpcTopicHandler, type PluginSlot, type RrpcTopicRoute } from '../plugins/registry';
import type { InboundMessage } from '../transport';
import { Call, runHandler } from './call';
import { rrpcDeadline, secondsSince, type RouterCore } from './core';
import type { InboundKind } from './observer';
import { RRPC_KEY_PREFIX, replyCodeOf } from './replies';
import { invokeService } from './service';

const EXT_PREFIX = '/ext/rrpc/';

/** Topics answered recently; bounded in size and time. */
export class RecentTopics {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly max: number,
  ) {}

  /** True when `topic` was seen within the TTL; records it otherwise. */
  seen(topic: string, now: number): boolean {
    const t = this.until.get(topic);
    if (t !== undefined && t >= now) return true;
    this.until.delete(topic);
    this.until.set(topic, now + this.ttlMs);
    // Insertion order is expiry order (constant TTL), so expired entries sit at the front.
    for (const [k, exp] of this.until) {
      if (exp >= now && this.until.size <= this.max) break;
      this.until.delete(k);
    }
    return false;
  }
}

export class RrpcRoute {
  private readonly responsePrefix: string;
  private readonly extServicePrefix: string;
  private readonly exactTopics = new Map<string, RrpcTopicRoute>();
  private readonly wildcardTopics: RrpcTopicRoute[] = [];
  private readonly recent = new RecentTopics(60_000, 10_000);

  constructor(private readonly core: RouterCore) {
    this.responsePrefix = `${core.topics.sysPrefix}/rrpc/response/`;
    this.extServicePrefix = `${core.topics.sysPrefix}/thing/service/`;
    for (const r of core.registry.rrpcTopics) {
      if (r.pattern) this.wildcardTopics.push(r);
      else this.exactTopics.set(r.topic, r);
    }
  }

  /** True for topics this module handles. */
  static isExt(topic: string): boolean {
    return topic.startsWith(EXT_PREFIX);
  }

  /** `/sys/{pk}/{dn}/rrpc/request/{messageId}`. */
  async handleRequest(msg: InboundMessage, messageId: string, receivedAt: number, startPerf: number): Promise<void> {
    const core = this.core;
    const replyTopic = this.responsePrefix + messageId;
    const key = RRPC_KEY_PREFIX + messageId;
    const parsed = peekJson(msg.payload);
    const method = methodOf(parsed);
    const serviceId = method === undefined ? undefined : serviceIdOf(method);
    if (serviceId === undefined) {
      core.observer?.messageIn('rawRrpc');
      if (core.inflight.has(key)) return;
      core.inflight.add(key);
      try {
        await this.raw(msg, messageId, replyTopic, receivedAt, parsed);
      } finally {
        core.inflight.delete(key);
      }
      return core.observer?.handlerDone('rawRrpc', secondsSince(startPerf));
    }
    core.observer?.messageIn('rrpc');
    await this.syncService(parsed, serviceId, replyTopic, key, receivedAt);
    core.observer?.handlerDone('rrpc', secondsSince(startPerf));
  }

  /** `/ext/rrpc/{messageId}/...`. */
  async handleExt(msg: InboundMessage, receivedAt: number, startPerf: number): Promise<void> {
    const core = this.core;
    const slash = msg.topic.indexOf('/', EXT_PREFIX.length);
    const messageId = slash < 0 ? '' : msg.topic.slice(EXT_PREFIX.length, slash);
    if (messageId === '' || slash === msg.topic.length - 1) {
      core.observer?.messageIn('unrouted');
      return core.logger.warn({ topic: msg.topic }, 'ext RRPC topic without a message id or custom topic; dropped');
    }
    if (this.recent.seen(msg.topic, receivedAt)) {
      return core.logger.debug({ topic: msg.topic }, 'ext RRPC topic already handled (our own answer, or a duplicate); dropped');
    }
    const customTopic = msg.topic.slice(slash);
    const key = RRPC_KEY_PREFIX + messageId;
    if (customTopic.startsWith(this.extServicePrefix)) {
      const serviceId = customTopic.slice(this.extServicePrefix.length);
      core.observer?.messageIn('rrpc');
      const parsed = peekJson(msg.payload);
      if (isReply(parsed)) return core.logger.debug({ topic: msg.topic }, 'ext RRPC reply seen on its own topic; dropped');
      const method = methodOf(parsed);
      if (method !== undefined && method !== serviceMethod(serviceId)) {
        const id = idOf(parsed);
        await core.replier.error(msg.topic, id, AlinkCodes.PARAM_ERROR, `method: expected ${serviceMethod(serviceId)}, got ${method}`, 0);
      } else {
        await this.syncService(parsed, serviceId, msg.topic, key, receivedAt);
      }
      return core.observer?.handlerDone('rrpc', secondsSince(startPerf));
    }

    core.observer?.messageIn('customRrpc');
    const route = this.lookup(customTopic);
    if (!route) {
      await core.replier.error(msg.topic, '', AlinkCodes.PARAM_ERROR, `${customTopic}: no plugin handles RRPC on this topic`, 0);
    } else {
      const fn = rrpcTopicHandler(route.slot, route.key);
      const budget = core.rrpc.topics?.[route.topic] ?? core.rrpc.topics?.[route.key] ?? core.rrpc.budgetMs;
      await this.runBytes(route.slot, fn, { messageId, topic: msg.topic, customTopic, payload: msg.payload }, msg.topic, budget, receivedAt, 'customRrpc');
    }
    core.observer?.handlerDone('customRrpc', secondsSince(startPerf));
  }

  private async syncService(parsed: unknown, serviceId: string, replyTopic: string, key: string, receivedAt: number): Promise<void> {
    const core = this.core;
    const env = parsed === NOT_JSON ? { ok: false as const, id: '', message: 'payload: not valid JSON' } : core.envelope.checkParsed(parsed);
    if (!env.ok) {
      core.logger.warn({ topic: replyTopic, reason: env.message }, 'malformed RRPC service request');
      return core.replier.error(replyTopic, env.id, AlinkCodes.PARAM_ERROR, env.message, 0);
    }
    if (core.replier.replay(key, 0) || core.inflight.has(key)) return;
    core.inflight.add(key);
    try {
      const budget = core.rrpc.services?.[serviceId] ?? core.rrpc.budgetMs;
      const deadline = rrpcDeadline(core, receivedAt, budget);
      await invokeService(core, serviceId, env.value, { topic: replyTopic, qos: 0, cacheKey: key, kind: 'rrpc', rrpc: true }, receivedAt, deadline);
    } finally {
      core.inflight.delete(key);
    }
  }

  private async raw(msg: InboundMessage, messageId: string, replyTopic: string, receivedAt: number, parsed: unknown): Promise<void> {
    const core = this.core;
    const slot = core.registry.rawRrpc;
    if (!slot) {
      const reason = parsed === NOT_JSON ? 'payload: not valid JSON' : `method: not a ${SERVICE_METHOD_PREFIX}* request`;
      core.logger.warn({ topic: msg.topic, reason }, 'RRPC request is not an Alink service call and no plugin handles raw RRPC');
      return core.replier.error(replyTopic, idOf(parsed), AlinkCodes.PARAM_ERROR, `${reason}, and no plugin handles raw RRPC`, 0);
    }
    const req: RrpcRequest = { messageId, topic: msg.topic, payload: msg.payload };
    return this.runBytes(slot, slot.instance.rrpc?.raw, req, replyTopic, core.rrpc.budgetMs, receivedAt, 'rawRrpc');
  }

  private async runBytes(
    slot: PluginSlot,
    fn: RrpcHandler | undefined,
    req: RrpcRequest,
    replyTopic: string,
    budgetMs: number,
    receivedAt: number,
    kind: InboundKind,
  ): Promise<void> {
    const { replier, observer } = this.core;
    if (!fn) return replier.error(replyTopic, '', AlinkCodes.REQUEST_ERROR, `plugin "${slot.name}" has no RRPC handler`, 0);
    if (slot.state !== 'running') return replier.error(replyTopic, '', AlinkCodes.TOO_MANY_REQUESTS, `plugin "${slot.name}" is not running`, 0);
    const call = new Call('rrpc', req.messageId, receivedAt, rrpcDeadline(this.core, receivedAt, budgetMs), slot.logger, this.core.device);
    let o = runHandler(fn, req, call, this.core.pending);
    if (o instanceof Promise) o = await o;
    if (!o.ok) {
      if (o.expired !== undefined) {
        observer?.rrpcBudgetMiss();
        slot.logger.warn({ kind, messageId: req.messageId, reason: o.expired }, 'RRPC answered with an error: handler too slow');
        return replier.error(replyTopic, '', AlinkCodes.REQUEST_ERROR, o.expired, 0);
      }
      const { code, message } = replyCodeOf(o.error);
      slot.logger.warn({ kind, messageId: req.messageId, err: o.error }, 'RRPC handler failed');
      return replier.error(replyTopic, '', code, message, 0);
    }
    if (typeof o.value !== 'string' && !Buffer.isBuffer(o.value)) {
      slot.logger.error({ kind, messageId: req.messageId }, 'RRPC handler returned neither a string nor a Buffer (plugin bug)');
      return replier.error(replyTopic, '', AlinkCodes.REQUEST_ERROR, 'RRPC handler returned neither a string nor a Buffer', 0);
    }
    return replier.send(replyTopic, o.value, 0, undefined, undefined, 'rrpc');
  }

  private lookup(customTopic: string): RrpcTopicRoute | undefined {
    const exact = this.exactTopics.get(customTopic);
    if (exact) return exact;
    for (const r of this.wildcardTopics) if (r.pattern?.test(customTopic)) return r;
    return undefined;
  }
}

/** Marks a payload that is not a JSON object. */
const NOT_JSON: unique symbol = Symbol('not JSON');

/** Parses the payload when it looks like a JSON object; raw RRPC bytes mostly do not, and cost no parse. */
function peekJson(payload: Buffer): unknown {
  let i = 0;
  while (i < payload.length && (payload[i] === 0x20 || payload[i] === 0x0a || payload[i] === 0x0d || payload[i] === 0x09)) i++;
  if (payload[i] !== 0x7b) return NOT_JSON;
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    return NOT_JSON;
  }
}

function methodOf(parsed: unknown): string | undefined {
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const m = (parsed as { method?: unknown }).method;
  return typeof m === 'string' ? m : undefined;
}

function idOf(parsed: unknown): string {
  if (parsed === null || typeof parsed !== 'object') return '';
  const id = (parsed as { id?: unknown }).id;
  return typeof id === 'string' ? id.slice(0, 32) : '';
}

/** An Alink reply (code, no params/method): what our own ext answer looks like when it comes back. */
function isReply(parsed: unknown): boolean {
  if (parsed === null || typeof parsed !== 'object') return false;
  const o = parsed as Record<string, unknown>;
  return typeof o.code === 'number' && o.params === undefined && o.method === undefined;
}
