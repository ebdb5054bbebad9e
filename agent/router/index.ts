/**
 * The router: every inbound PUBLISH → classification (a precomputed topic table) → envelope and TSL
 * validation → the claiming plugin → exactly one reply. One small module per inbound kind:
 * property-set.ts, service.ts, rrpc.ts, custom-topic.ts; upstream `_reply` topics go to the upstream API.
 */
import type { Logger } from 'pino';
import type { CompiledThingModel } from '../../thing-model';
import { channelTopics, deviceTopics, extRrpcFilter, stateTopics, type DeviceIdentity, type MessageIdGenerator } from '../../thing-model/wire';
import type { PluginHost } from '../plugins/loader';
import type { CustomTopicRoute } from '../plugins/registry';
import type { InboundMessage, ReplyCache, Uplink } from '../transport';
import { AlinkUpstream } from '../upstream/upstream';
import type { Upstream } from '../../handlers/api';
import { PendingCalls } from './call';
import type { RouterCore, RrpcBudgets } from './core';
import { CustomTopics } from './custom-topic';
import { EnvelopeParser } from './envelope';
import type { RouterObserver } from './observer';
import { DEFAULT_POST_AFTER_SET, SetPostCoalescer, type PostAfterSetOptions } from './post-after-set';
import { PropertySetRoute } from './property-set';
import { Replier } from './replies';
import { RrpcRoute } from './rrpc';
import { AsyncServiceRoute } from './service';
import { RawRoute } from './raw';
import { PropertyGetRoute } from './property-get';
import { AgentClock } from '../clock/clock';
import { DEFAULT_STATE_CHANNELS, StateChannels, type StateChannelOptions, type StateHandler } from '../state';

export type { RouterObserver, InboundKind } from './observer';
export type { RrpcBudgets } from './core';
export type { PostAfterSetOptions } from './post-after-set';

export interface RouterOptions {
  identity: DeviceIdentity;
  model: CompiledThingModel;
  uplink: Uplink;
  /** Only its claims table is read. */
  plugins: Pick<PluginHost, 'registry'>;
  /** The inbox: requests already answered get their stored reply again, without calling the handler. */
  replyCache?: ReplyCache;
  /** RRPC reply budgets. */
  rrpc: RrpcBudgets;
  logger: Logger;
  observer?: RouterObserver;
  /** Deadline of async services and property-set handlers; default 30 s. */
  asyncTimeoutMs?: number;
  /** Deadline of custom-topic handlers; defaults to `asyncTimeoutMs`. */
  customTopicTimeoutMs?: number;
  /**
   * The post-after-set policy (docs/protocol/payloads.md, "Property set and its reply"): post the new values of successful sets, the sets of one
   * window merged into one post. Defaults: enabled, `coalesceMs` 0 (the current event-loop turn).
   */
  postAfterSet?: Partial<PostAfterSetOptions>;
  upstream?: {
    /** Default wait for a platform `_reply`; 10 s. */
    replyTimeoutMs?: number;
    /** Per-agent upstream id source. */
    ids?: MessageIdGenerator;
    /** True when QoS 1 publishes go to the durable outbox (the upstream handles then report `durable`). */
    durable?: boolean;
  };
  /** The agent's clock (NTP-corrected); a system clock of its own when absent. */
  clock?: AgentClock;
  /** Desired values, shadow and NTP (agent/state); all on when absent. */
  state?: Partial<StateChannelOptions>;
  /** A sub-device's router (agent/gateway/traffic): handlers see `call.device`. */
  subDevice?: boolean;
}

export interface Subscription {
  topic: string;
  qos: 0 | 1;
}

/** A topic handled outside the router's own modules (remote config, log upload: agent/device-config, agent/log-upload). */
export interface ChannelRoute extends Subscription {
  /** Never throws; answers its own errors. */
  handle(msg: InboundMessage, receivedAt: number): Promise<void> | void;
}

export interface Router {
  /** Every filter the agent must subscribe to (after every CONNACK without a session). */
  subscriptions(): Subscription[];
  /** Handles one inbound PUBLISH; never throws, never rejects. */
  handle(msg: InboundMessage): Promise<void>;
  /**
   * Stops taking new messages and waits up to `timeoutMs` for in-flight handlers; those still running then get
   * their error reply ("agent is shutting down") and an aborted signal.
   */
  drain(timeoutMs: number): Promise<void>;
  /** Property posts, event posts and custom publishes; handed to the plugins. */
  readonly upstream: Upstream;
  /** The upstream with what the agent's own channels need (requests that wait for their `_reply`). */
  readonly alinkUpstream: AlinkUpstream;
  /** Adds a channel's topic; before `subscriptions()` is read (before the agent starts). */
  addRoute(route: ChannelRoute): void;
  /** Routes a `_reply` topic to `alinkUpstream` (and subscribes to it). */
  addReplyTopic(topic: string): void;
  /** The connection is up with its subscriptions: NTP, desired values and the shadow run their round. */
  connected(): void;
  /** The device-state channels (desired values, shadow, NTP). */
  readonly state: StateChannels;
}

type Route =
  | { kind: 'set' }
  | { kind: 'service'; serviceId: string }
  | { kind: 'custom'; route: CustomTopicRoute }
  | { kind: 'rawDown' }
  | { kind: 'rawUpReply' }
  | { kind: 'reply' }
  | { kind: 'channel'; route: ChannelRoute }
  | { kind: 'fn'; handle: (msg: InboundMessage, receivedAt: number, startPerf: number) => Promise<void> | void };

class AlinkRouter implements Router {
  readonly upstream: AlinkUpstream;
  readonly state: StateChannels;
  private readonly clock: AgentClock;
  private readonly core: RouterCore;
  private readonly exact = new Map<string, Route>();
  private readonly set: PropertySetRoute;
  private readonly services: AsyncServiceRoute;
  private readonly rrpc: RrpcRoute;
  private readonly custom: CustomTopics;
  private readonly raw: RawRoute;
  private readonly setPosts: SetPostCoalescer | undefined;
  private readonly rrpcRequestPrefix: string;
  private readonly eventPrefix: string;
  private readonly userPrefix: string;
  private subs: Subscription[];
  private active = 0;
  private draining = false;
  private onIdle: (() => void) | undefined;

  constructor(opts: RouterOptions) {
    const topics = deviceTopics(opts.identity);
    const logger = opts.logger;
    this.clock = opts.clock ?? new AgentClock();
    this.upstream = new AlinkUpstream({
      identity: opts.identity,
      model: opts.model,
      uplink: opts.uplink,
      logger: logger.child({ component: 'upstream' }),
      replyTimeoutMs: opts.upstream?.replyTimeoutMs,
      ids: opts.upstream?.ids,
      durable: opts.upstream?.durable,
      now: () => this.clock.now(),
    });
    const asyncTimeoutMs = opts.asyncTimeoutMs ?? 30_000;
    this.core = {
      identity: opts.identity,
      topics,
      model: opts.model,
      registry: opts.plugins.registry,
      replier: new Replier(opts.uplink, logger, opts.replyCache, opts.observer),
      envelope: new EnvelopeParser(),
      upstream: this.upstream,
      logger,
      observer: opts.observer,
      pending: new PendingCalls(),
      inflight: new Set(),
      asyncTimeoutMs,
      customTopicTimeoutMs: opts.customTopicTimeoutMs ?? asyncTimeoutMs,
      rrpc: opts.rrpc,
      ...(opts.subDevice ? { device: opts.identity } : {}),
    };
    if (opts.postAfterSet?.enabled ?? DEFAULT_POST_AFTER_SET.enabled) {
      const upstream = this.upstream;
      const coalesceMs = Math.max(0, opts.postAfterSet?.coalesceMs ?? DEFAULT_POST_AFTER_SET.coalesceMs);
      this.setPosts = new SetPostCoalescer((params) => upstream.postValidated(params), coalesceMs, logger);
    }
    this.set = new PropertySetRoute(this.core, this.setPosts);
    this.services = new AsyncServiceRoute(this.core);
    this.rrpc = new RrpcRoute(this.core);
    this.custom = new CustomTopics(this.core);
    this.raw = new RawRoute(this.core);
    this.rrpcRequestPrefix = `${topics.sysPrefix}/rrpc/request/`;
    this.eventPrefix = `${topics.sysPrefix}/thing/event/`;
    this.userPrefix = topics.userPrefix;

    this.exact.set(topics.propertySet, { kind: 'set' });
    const subs: Subscription[] = [{ topic: topics.propertySet, qos: 1 }];
    const get = new PropertyGetRoute(this.core);
    this.exact.set(get.topic, { kind: 'fn', handle: (m, at, perf) => get.handle(m, at, perf) });
    subs.push({ topic: get.topic, qos: 1 });
    this.state = this.stateChannels(opts);
    for (const [topic, r] of this.state.routes) {
      const handle: StateHandler = r.handle;
      this.exact.set(topic, { kind: 'fn', handle: (m) => handle(m) });
      subs.push({ topic, qos: r.qos });
    }
    for (const id of this.services.serviceIds()) {
      const t = topics.service(id);
      this.exact.set(t, { kind: 'service', serviceId: id });
      subs.push({ topic: t, qos: 1 });
    }
    subs.push(
      { topic: topics.rrpcRequestFilter, qos: 0 },
      { topic: extRrpcFilter(topics.serviceFilter), qos: 0 },
      // Covers property/post_reply too.
      { topic: topics.eventPostReplyFilter, qos: 1 },
      // Two levels below event/: the filter above misses it.
      { topic: topics.propertyBatchPostReply, qos: 1 },
      // Posts the outbox sent as history posts are answered here (agent/upstream/history.ts).
      { topic: stateTopics(opts.identity).propertyHistoryPostReply, qos: 1 },
    );
    for (const r of this.core.registry.customTopics) {
      if (!r.pattern) this.exact.set(r.filter, { kind: 'custom', route: r });
      subs.push({ topic: r.filter, qos: r.qos });
    }
    for (const r of this.core.registry.rrpcTopics) subs.push({ topic: extRrpcFilter(r.topic), qos: 0 });
    // The other device channels (docs/protocol/raw-data.md, tags.md, remote-config.md, log-upload.md).
    this.exact.set(this.raw.downTopic, { kind: 'rawDown' });
    this.exact.set(this.raw.upReplyTopic, { kind: 'rawUpReply' });
    subs.push(...this.raw.subscriptions());
    const ch = channelTopics(opts.identity);
    for (const t of [ch.tagsUpdateReply, ch.tagsDeleteReply]) {
      this.exact.set(t, { kind: 'reply' });
      subs.push({ topic: t, qos: 1 });
    }
    this.subs = subs;
  }

  get alinkUpstream(): AlinkUpstream {
    return this.upstream;
  }

  /** A `_reply` of one of the agent's own upstream requests (config get, log posts), for `alinkUpstream.request`. */
  addReplyTopic(topic: string): void {
    this.exact.set(topic, { kind: 'reply' });
    this.subs.push({ topic, qos: 1 });
  }

  addRoute(route: ChannelRoute): void {
    this.exact.set(route.topic, { kind: 'channel', route });
    this.subs.push({ topic: route.topic, qos: route.qos });
  }

  private stateChannels(opts: RouterOptions): StateChannels {
    const set = this.set;
    return new StateChannels(
      {
        identity: opts.identity,
        model: opts.model,
        uplink: opts.uplink,
        logger: opts.logger,
        observer: opts.observer,
        ids: opts.upstream?.ids ?? this.upstream.ids,
        replyTimeoutMs: opts.upstream?.replyTimeoutMs ?? 10_000,
        clock: this.clock,
        apply: async (values, id) => set.applyValidated(values, id, Date.now()),
        posted: (values) => set.postApplied(values),
      },
      { ...DEFAULT_STATE_CHANNELS, ...opts.state },
    );
  }

  connected(): void {
    this.state.connected();
  }

  subscriptions(): Subscription[] {
    return this.subs.map((s) => ({ ...s }));
  }

  async handle(msg: InboundMessage): Promise<void> {
    if (this.draining) {
      this.core.logger.debug({ topic: msg.topic }, 'message dropped: the router is draining');
      return;
    }
    this.active++;
    try {
      // The monotonic start is read only for the observer's durations: without one, it is a call per message for nothing.
      await this.dispatch(msg, Date.now(), this.core.observer ? performance.now() : 0);
    } catch (err) {
      // Every route answers its own errors; reaching this is a router bug, and it must not take the agent down.
      this.core.logger.error({ err, topic: msg.topic }, 'router failed on a message');
    } finally {
      if (--this.active === 0) this.onIdle?.();
    }
  }

  private dispatch(msg: InboundMessage, receivedAt: number, startPerf: number): Promise<void> | void {
    const topic = msg.topic;
    const r = this.exact.get(topic);
    if (r !== undefined) {
      switch (r.kind) {
        case 'set':
          return this.set.handle(msg, receivedAt, startPerf);
        case 'service':
          return this.services.handle(msg, r.serviceId, receivedAt, startPerf);
        case 'custom':
          return this.custom.handle(msg, r.route, receivedAt, startPerf);
        case 'rawDown':
          return this.raw.handleDown(msg, receivedAt, startPerf);
        case 'rawUpReply':
          return this.raw.handleUpReply(msg);
        case 'reply':
          // Answers to the agent's own channel requests (tags, config, logs), counted apart from post replies.
          this.core.observer?.messageIn('channelReply');
          return this.upstream.handleReply(msg.payload);
        case 'channel':
          return r.route.handle(msg, receivedAt);
        case 'fn':
          return r.handle(msg, receivedAt, startPerf);
      }
    }
    if (topic.startsWith(this.rrpcRequestPrefix)) {
      const messageId = topic.slice(this.rrpcRequestPrefix.length);
      if (messageId !== '' && !messageId.includes('/')) return this.rrpc.handleRequest(msg, messageId, receivedAt, startPerf);
    } else if (this.raw.isExt(topic)) {
      return this.raw.handleExt(msg, receivedAt, startPerf);
    } else if (RrpcRoute.isExt(topic)) {
      return this.rrpc.handleExt(msg, receivedAt, startPerf);
    } else if (topic.startsWith(this.eventPrefix) && topic.endsWith('/post_reply')) {
      this.core.observer?.messageIn('reply');
      return this.upstream.handleReply(msg.payload);
    } else if (topic.startsWith(this.userPrefix)) {
      const route = this.custom.lookup(topic);
      if (route) return this.custom.handle(msg, route, receivedAt, startPerf);
    }
    this.core.observer?.messageIn('unrouted');
    this.core.logger.debug({ topic }, 'no route for topic; dropped');
  }

  async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    if (this.active > 0) await this.waitIdle(timeoutMs);
    if (this.active > 0) {
      this.core.logger.warn({ inFlight: this.active }, 'drain timeout: answering the handlers still running');
      this.core.pending.expireAll('agent is shutting down');
      // The error replies are being published; give them a moment.
      await this.waitIdle(1000);
    }
    // The values of the last sets must reach the cloud before the connection closes.
    this.setPosts?.flush();
    this.state.stop();
  }

  private waitIdle(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.onIdle = undefined;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.onIdle = done;
    });
  }
}

/** Builds the router of one agent. The plugins must be loaded (their claims decide the subscriptions). */
export function createRouter(opts: RouterOptions): Router {
  return new AlinkRouter(opts);
}
