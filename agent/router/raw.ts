/**
 * Custom-format (raw) data (docs/protocol/raw-data.md): bytes the platform's parse script made from a cloud
 * request arrive on `thing/model/down_raw` (answered on `down_raw_reply`) or, for sync services, over RRPC on
 * `/ext/rrpc/{id}/sys/{pk}/{dn}/thing/model/down_raw` (answered on the same topic, within the RRPC budget).
 * Both go to the plugin that claims `raw`; its answer bytes go back untouched. The platform's answers to our
 * `up_raw` publishes (`up_raw_reply`) go to the claim's `reply` hook.
 *
 * No error reply exists here: the agent cannot encode one in the product's own format, so a handler that throws
 * or misses its deadline is logged and the cloud sees a timeout.
 */
import { channelTopics } from '../../thing-model/wire';
import type { InboundMessage } from '../transport';
import { Call, runHandler } from './call';
import { rrpcDeadline, secondsSince, type RouterCore } from './core';
import { RecentTopics } from './rrpc';
import type { Subscription } from './index';

export class RawRoute {
  readonly downTopic: string;
  readonly upReplyTopic: string;
  private readonly downReplyTopic: string;
  private readonly extSuffix: string;
  /** Our own answers on an ext topic come back to us (no no-local in MQTT 3.1.1). */
  private readonly recent = new RecentTopics(60_000, 10_000);

  constructor(private readonly core: RouterCore) {
    const t = channelTopics(core.identity);
    this.downTopic = t.downRaw;
    this.downReplyTopic = t.downRawReply;
    this.upReplyTopic = t.upRawReply;
    this.extSuffix = t.downRaw;
  }

  /** Subscribed only when a plugin claims raw data: an Alink-JSON product never gets these topics. */
  subscriptions(): Subscription[] {
    if (!this.core.registry.rawData) return [];
    return [
      { topic: this.downTopic, qos: 1 },
      { topic: this.upReplyTopic, qos: 1 },
      { topic: `/ext/rrpc/+${this.extSuffix}`, qos: 0 },
    ];
  }

  /** `/ext/rrpc/{id}/sys/{pk}/{dn}/thing/model/down_raw`. */
  isExt(topic: string): boolean {
    return topic.endsWith(this.extSuffix) && topic.startsWith('/ext/rrpc/') && topic.length > 10 + this.extSuffix.length;
  }

  async handleDown(msg: InboundMessage, receivedAt: number, startPerf: number): Promise<void> {
    this.core.observer?.messageIn('raw');
    await this.run(msg, 'raw', '', this.downReplyTopic, receivedAt + this.core.asyncTimeoutMs, receivedAt, 1);
    this.core.observer?.handlerDone('raw', secondsSince(startPerf));
  }

  async handleExt(msg: InboundMessage, receivedAt: number, startPerf: number): Promise<void> {
    const messageId = msg.topic.slice('/ext/rrpc/'.length, msg.topic.length - this.extSuffix.length);
    if (messageId === '' || messageId.includes('/')) {
      this.core.observer?.messageIn('unrouted');
      return this.core.logger.warn({ topic: msg.topic }, 'raw RRPC topic without a message id; dropped');
    }
    if (this.recent.seen(msg.topic, receivedAt)) return this.core.logger.debug({ topic: msg.topic }, 'raw RRPC topic already handled (our own answer); dropped');
    this.core.observer?.messageIn('rawRrpc');
    const deadline = rrpcDeadline(this.core, receivedAt, this.core.rrpc.budgetMs);
    await this.run(msg, 'rrpc', messageId, msg.topic, deadline, receivedAt, 0);
    this.core.observer?.handlerDone('rawRrpc', secondsSince(startPerf));
  }

  /** `up_raw_reply`: the platform's answer, for the plugin. */
  handleUpReply(msg: InboundMessage): void {
    this.core.observer?.messageIn('reply');
    const slot = this.core.registry.rawData;
    const hook = slot?.instance.raw?.reply;
    if (!slot || !hook) return this.core.logger.debug({ bytes: msg.payload.length }, 'up_raw_reply without a reply hook; dropped');
    try {
      hook(msg.payload);
    } catch (err) {
      slot.logger.warn({ err }, 'raw reply hook failed');
    }
  }

  private async run(msg: InboundMessage, kind: 'raw' | 'rrpc', id: string, replyTopic: string, deadline: number, receivedAt: number, qos: 0 | 1): Promise<void> {
    const core = this.core;
    const slot = core.registry.rawData;
    const handle = slot?.instance.raw?.handle;
    if (!slot || !handle) return core.logger.warn({ topic: msg.topic }, 'custom-format data arrived but no plugin claims raw; dropped');
    if (slot.state !== 'running') return slot.logger.warn({ topic: msg.topic }, 'custom-format data dropped: the plugin is not running');
    const call = new Call(kind, id, receivedAt, deadline, slot.logger, core.device);
    let o = runHandler((p: Buffer, c: Call) => handle(p, c), msg.payload, call, core.pending);
    if (o instanceof Promise) o = await o;
    if (!o.ok) {
      const why = o.expired ?? (o.error instanceof Error ? o.error.message : String(o.error));
      return slot.logger.warn({ topic: msg.topic, reason: why }, 'raw handler failed; nothing answered (the cloud sees a timeout)');
    }
    if (o.value === undefined) return;
    if (typeof o.value !== 'string' && !Buffer.isBuffer(o.value)) {
      return slot.logger.error({ topic: msg.topic }, 'raw handler returned neither a string nor a Buffer (plugin bug); nothing answered');
    }
    await core.replier.send(replyTopic, o.value, qos, undefined, undefined, 'raw');
  }
}
