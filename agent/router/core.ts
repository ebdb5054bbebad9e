/** What every inbound-kind module shares: one per router, built once by `createRouter`. */
import type { Logger } from 'pino';
import type { CompiledThingModel } from '../../thing-model';
import type { DeviceIdentity, DeviceTopics } from '../../thing-model/wire';
import type { HandlerRegistry } from '../plugins/registry';
import type { AlinkUpstream } from '../upstream/upstream';
import type { PendingCalls } from './call';
import type { EnvelopeParser } from './envelope';
import type { RouterObserver } from './observer';
import type { Replier } from './replies';

export interface RrpcBudgets {
  /** Default time the caller waits for an RRPC answer (RRpc `Timeout`, 1000–8000 ms). */
  budgetMs: number;
  /** Per sync service identifier. */
  services?: Record<string, number>;
  /** Per custom RRPC topic: the full topic (`/a1GwDemo01/gw-001/user/get`) or the plugin's claim key (`get`). */
  topics?: Record<string, number>;
  /** How long before the budget an error reply is sent so that it still arrives; default 10 % (50–500 ms). */
  marginMs?: number;
}

export interface RouterCore {
  readonly identity: DeviceIdentity;
  readonly topics: DeviceTopics;
  readonly model: CompiledThingModel;
  readonly registry: HandlerRegistry;
  readonly replier: Replier;
  readonly envelope: EnvelopeParser;
  readonly upstream: AlinkUpstream;
  readonly logger: Logger;
  readonly observer: RouterObserver | undefined;
  readonly pending: PendingCalls;
  /** De-dup keys of requests being handled right now (a redelivery while the first is still running). */
  readonly inflight: Set<string>;
  readonly asyncTimeoutMs: number;
  readonly customTopicTimeoutMs: number;
  readonly rrpc: RrpcBudgets;
  /** Set on a sub-device's router (agent/gateway/traffic): every call's `device`. */
  readonly device?: DeviceIdentity;
}

/** The deadline of an RRPC arriving at `receivedAt` with `budgetMs`. */
export function rrpcDeadline(core: RouterCore, receivedAt: number, budgetMs: number): number {
  const margin = core.rrpc.marginMs ?? Math.min(500, Math.max(50, Math.round(budgetMs * 0.1)));
  return receivedAt + Math.max(0, budgetMs - margin);
}

export function secondsSince(startPerf: number): number {
  return (performance.now() - startPerf) / 1000;
}
