/**
 * The agent's gateway (agent/gateway), built from the agent's parts: its sub-device routers share the gateway
 * router's budgets, inbox, clock and id source; its topics on the gateway's own identity join the gateway's router;
 * its sub-devices' OTA shares the gateway's OTA store, staging directory and bounds (the `ota` section).
 * An agent with nothing of a gateway configured and no plugin claiming sub-devices does not load agent/gateway at
 * all (docs/performance.md, "Connected RSS"): an idle stand-in answers for it, and builds the real one only if a
 * plugin calls `ctx.gateway`, so that those calls answer exactly as they would otherwise.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { DeviceIdentity } from '../../thing-model/wire';
import type { AgentConfig } from '../config/load';
import type { Gateway } from '../gateway';
import type { SubDeviceState } from '../../handlers/api';
import type { PluginHost } from '../plugins/loader';
import type { Router, RouterObserver } from '../router';
import type { Session } from '../session/session';
import type { Uplink } from '../transport';
import type { AgentClock } from '../clock/clock';
import type { OtaObserver } from '../ota/device';
import { MemoryOtaStore } from '../ota/store';
import type { AgentStores } from './stores';

export interface AgentGatewayParts {
  identity: DeviceIdentity;
  config: AgentConfig;
  plugins: PluginHost;
  session: Session;
  uplink: Uplink;
  router: Router;
  stores: AgentStores;
  logger: Logger;
  clock: AgentClock;
  observer?: RouterObserver;
  /** The OTA counters (the agent's metrics), shared with the gateway's own OTA. */
  otaObserver?: OtaObserver;
}

/** What the agent uses of its gateway: the real one, or the idle stand-in. */
export type AgentGateway = Pick<Gateway, 'api' | 'enabled' | 'counts' | 'handle' | 'onConnected' | 'onDisconnected' | 'boot' | 'stop' | 'otaStatus'> & {
  readonly records: { readonly size: number };
  readonly ota?: { readonly configured: boolean } | undefined;
};

export function createAgentGateway(p: AgentGatewayParts): AgentGateway {
  const { config, plugins } = p;
  const used =
    config.subDevices.length > 0 ||
    Object.keys(config.gateway.products).length > 0 ||
    Object.keys(config.gateway.otaModules).length > 0 ||
    plugins.slots.some((s) => s.instance.subDevices !== undefined);
  return used ? wired(p) : idle(() => build(p));
}

/** Loaded here, not imported: an agent that never uses its gateway never holds its modules. */
function build(p: AgentGatewayParts): Gateway {
  const { config, stores, router } = p;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when a gateway is configured or called
  const { Gateway: GatewayClass } = require('../gateway') as typeof import('../gateway');
  return new GatewayClass({
    identity: p.identity,
    config,
    plugins: p.plugins,
    subscriber: { subscribe: (subs) => p.session.subscribeNow(subs), unsubscribe: (topics) => p.session.unsubscribeNow(topics) },
    uplink: p.uplink,
    upstream: router.alinkUpstream,
    ...(stores.subDevices ? { store: stores.subDevices } : {}),
    logger: p.logger,
    routers: {
      rrpc: config.rrpc,
      asyncTimeoutMs: config.deadlines.asyncMs,
      customTopicTimeoutMs: config.deadlines.customTopicMs,
      postAfterSet: config.postAfterSet,
      clock: p.clock,
      upstream: { replyTimeoutMs: config.upstream.replyTimeoutMs, durable: stores.durable !== undefined, ids: router.alinkUpstream.ids },
      ...(p.observer ? { observer: p.observer } : {}),
      ...(stores.replyCache ? { replyCache: stores.replyCache } : {}),
    },
    now: () => p.clock.now(),
    replyTimeoutMs: config.upstream.replyTimeoutMs,
    ...(stores.durable?.resendAcked ? { resendAcked: (key: string) => stores.durable?.resendAcked?.(key) ?? 0 } : {}),
    ota: {
      settings: config.ota,
      stagingDir: join(config.dataDir, config.ota.stagingDir),
      configDir: config.configDir,
      store: stores.ota ?? new MemoryOtaStore(),
      ...(p.otaObserver ? { observer: p.otaObserver } : {}),
    },
  });
}

function wired(p: AgentGatewayParts): Gateway {
  const { stores, router } = p;
  const gateway = build(p);
  const durable = stores.durable;
  if (gateway.enabled && durable?.setHold && durable.release) {
    durable.setHold(
      (topic) => gateway.holds(topic),
      (topic, reasonCode) => gateway.refused(topic, reasonCode),
    );
    durable.keepAcked?.((topic) => gateway.keyOf(topic));
    gateway.onOnline(() => durable.release?.());
  }
  const routes = gateway.routes();
  for (const t of routes.replies) router.addReplyTopic(t);
  for (const r of routes.channels) router.addRoute(r);
  return gateway;
}

const NO_STATES: Readonly<Record<SubDeviceState, number>> = { pending: 0, loggingIn: 0, online: 0, offline: 0, disabled: 0, failed: 0 };

/** No sub-devices, no topics, no requests; `ctx.gateway` calls go to a real (disabled) gateway built on the first. */
function idle(make: () => Gateway): AgentGateway {
  let real: Gateway | undefined;
  let connected = false;
  const api = (): Gateway['api'] => {
    if (!real) {
      real = make();
      if (connected) real.onConnected();
    }
    return real.api;
  };
  return {
    enabled: false,
    records: { size: 0 },
    ota: undefined,
    api: {
      add: (d) => api().add(d),
      remove: (d) => api().remove(d),
      setReachable: (d, r) => api().setReachable(d, r),
      status: (d) => api().status(d),
      list: () => api().list(),
      upstream: (d) => api().upstream(d),
      model: (pk) => api().model(pk),
      postPack: (entries, opts) => api().postPack(entries, opts),
    },
    counts: () => ({ ...NO_STATES }),
    handle: () => undefined,
    // Once built, the real one follows the connection as it would have from the start (its api asks whether connected).
    onConnected: () => {
      connected = true;
      real?.onConnected();
    },
    onDisconnected: () => {
      connected = false;
      real?.onDisconnected();
    },
    boot: () => Promise.resolve(),
    stop: (ms) => real?.stop(ms) ?? Promise.resolve(),
    otaStatus: () => [],
  };
}
