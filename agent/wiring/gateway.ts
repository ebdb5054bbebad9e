/**
 * The agent's gateway (agent/gateway), built from the agent's parts: its sub-device routers share the gateway
 * router's budgets, inbox, clock and id source; its topics on the gateway's own identity join the gateway's router;
 * its sub-devices' OTA shares the gateway's OTA store, staging directory and bounds (the `ota` section).
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { DeviceIdentity } from '../../thing-model/wire';
import type { AgentConfig } from '../config/load';
import { Gateway } from '../gateway';
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

export function createAgentGateway(p: AgentGatewayParts): Gateway {
  const { config, stores, router } = p;
  const gateway = new Gateway({
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
