/**
 * The device-state channels of one agent, composed for the router: desired values, the shadow and NTP. Each
 * brings its topics (exact routes and subscriptions) and runs after every connect.
 */
import type { Logger } from 'pino';
import type { CompiledThingModel } from '../../thing-model';
import { stateTopics, type DeviceIdentity, type MessageIdGenerator } from '../../thing-model/wire';
import type { AgentClock } from '../clock/clock';
import { NtpSync } from '../clock/ntp';
import type { RouterObserver } from '../router/observer';
import type { InboundMessage, Uplink } from '../transport';
import type { ApplyFailure } from './deps';
import { DesiredValues } from './desired';
import { StateRequests } from './requests';
import { DeviceShadow } from './shadow';

export type { ApplyFailure } from './deps';

/** Which channels run; all on by default (config `deviceState` and `clock`). */
export interface StateChannelOptions {
  desired: boolean;
  shadow: boolean;
  ntp: boolean;
  /** Re-sync period while connected; 0 = after connecting only. */
  ntpIntervalMs: number;
}

export const DEFAULT_STATE_CHANNELS: StateChannelOptions = { desired: true, shadow: true, ntp: true, ntpIntervalMs: 3_600_000 };

export interface StateChannelDeps {
  identity: DeviceIdentity;
  model: CompiledThingModel;
  uplink: Uplink;
  logger: Logger;
  observer: RouterObserver | undefined;
  ids: MessageIdGenerator;
  replyTimeoutMs: number;
  clock: AgentClock;
  apply(values: Record<string, unknown>, id: string): Promise<ApplyFailure | undefined>;
  posted(values: Record<string, unknown>): void;
}

export type StateHandler = (msg: InboundMessage) => Promise<void> | void;

export class StateChannels {
  readonly desired: DesiredValues | undefined;
  readonly shadow: DeviceShadow | undefined;
  readonly ntp: NtpSync | undefined;
  /** Exact topic → handler; every one is also a subscription (QoS 0 for NTP, 1 otherwise). */
  readonly routes = new Map<string, { qos: 0 | 1; handle: StateHandler }>();

  constructor(deps: StateChannelDeps, opts: StateChannelOptions) {
    const topics = stateTopics(deps.identity);
    const requests = new StateRequests(deps.uplink, deps.ids, deps.replyTimeoutMs);
    const shared = { ...deps, topics, requests, logger: deps.logger.child({ component: 'state' }) };
    const onReply = (msg: InboundMessage) => {
      if (!requests.handleReply(msg.payload)) shared.logger.debug({ topic: msg.topic }, 'state reply nobody waits for');
    };
    if (opts.desired) {
      this.desired = new DesiredValues(shared);
      this.routes.set(topics.desiredGetReply, { qos: 1, handle: onReply });
      this.routes.set(topics.desiredDeleteReply, { qos: 1, handle: onReply });
    }
    if (opts.shadow) {
      const shadow = (this.shadow = new DeviceShadow(shared));
      this.routes.set(topics.shadowGet, { qos: 1, handle: (m) => shadow.handle(m) });
    }
    if (opts.ntp) {
      const ntp = (this.ntp = new NtpSync({ clock: deps.clock, uplink: deps.uplink, requestTopic: topics.ntpRequest, logger: shared.logger, intervalMs: opts.ntpIntervalMs }));
      this.routes.set(topics.ntpResponse, { qos: 0, handle: (m) => ntp.handle(m.payload) });
    }
  }

  /** After every connect (subscriptions in place): clock first, so what follows is stamped right. */
  connected(): void {
    this.ntp?.connected();
    void this.desired?.sync();
    void this.shadow?.requestDocument();
  }

  stop(): void {
    this.ntp?.stop();
  }
}
