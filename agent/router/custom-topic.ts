/**
 * Custom topics (`/{pk}/{dn}/user/...`, docs/protocol/topics.md, "Custom topics"): opaque bytes to the claiming plugin. Under
 * MQTT 5 a returned reply goes to the request's Response Topic with its Correlation Data (docs/protocol/mqtt5.md, "Request/response"); a failing
 * handler answers there with `{"code":..,"data":{},"message":..}`.
 */
import type { CustomMessage, CustomReply, MessageProperties } from '../../handlers/api';
import { AlinkCodes } from '../../thing-model/codes';
import { customHandler, type CustomTopicRoute } from '../plugins/registry';
import type { InboundMessage } from '../transport';
import { Call, runHandler } from './call';
import { secondsSince, type RouterCore } from './core';
import { replyCodeOf } from './replies';

export class CustomTopics {
  /** Exact filters are in the router's own topic map; only the wildcards reach {@link CustomTopics.lookup}. */
  private readonly wildcards: CustomTopicRoute[] = [];
  private readonly prefixLength: number;

  constructor(private readonly core: RouterCore) {
    this.prefixLength = core.topics.userPrefix.length;
    for (const r of core.registry.customTopics) if (r.pattern) this.wildcards.push(r);
  }

  /** The first wildcard claim matching `topic`. */
  lookup(topic: string): CustomTopicRoute | undefined {
    for (const r of this.wildcards) if (r.pattern?.test(topic)) return r;
    return undefined;
  }

  async handle(msg: InboundMessage, route: CustomTopicRoute, receivedAt: number, startPerf: number): Promise<void> {
    const core = this.core;
    core.observer?.messageIn('customTopic');
    const slot = route.slot;
    const props = msg.properties;
    const responseTopic = props?.responseTopic;
    const fn = customHandler(slot.instance.customTopics?.[route.key]);
    if (!fn || slot.state !== 'running') {
      const code = fn ? AlinkCodes.TOO_MANY_REQUESTS : AlinkCodes.REQUEST_ERROR;
      const reason = fn ? `plugin "${slot.name}" is not running` : `plugin "${slot.name}" has no handler for ${route.filter}`;
      core.logger.warn({ topic: msg.topic, reason }, 'custom topic message not handled');
      if (responseTopic) await this.answerError(msg, responseTopic, code, reason);
      return;
    }
    const cm: CustomMessage = {
      topic: msg.topic,
      suffix: msg.topic.slice(this.prefixLength),
      payload: msg.payload,
      qos: msg.qos,
      responseTopic,
      correlationData: props?.correlationData,
      userProperties: props?.userProperties,
      contentType: props?.contentType,
    };
    const call = new Call('customTopic', '', receivedAt, receivedAt + core.customTopicTimeoutMs, slot.logger, core.device);
    let o = runHandler(fn, cm, call, core.pending);
    if (o instanceof Promise) o = await o;
    if (!o.ok) {
      const { code, message } = o.expired !== undefined ? { code: AlinkCodes.REQUEST_ERROR, message: o.expired } : replyCodeOf(o.error);
      slot.logger.warn({ topic: msg.topic, code, err: o.error }, 'custom topic handler failed');
      if (responseTopic) await this.answerError(msg, responseTopic, code, message);
    } else if (o.value) {
      await this.answer(msg, responseTopic, o.value, slot.name);
    }
    core.observer?.handlerDone('customTopic', secondsSince(startPerf));
  }

  private async answer(msg: InboundMessage, responseTopic: string | undefined, reply: CustomReply, plugin: string): Promise<void> {
    if (!responseTopic) {
      this.core.logger.debug({ topic: msg.topic, plugin }, 'custom topic reply dropped: the request has no response topic (MQTT 3.1.1?)');
      return;
    }
    if (typeof reply.payload !== 'string' && !Buffer.isBuffer(reply.payload)) {
      this.core.logger.error({ topic: msg.topic, plugin }, 'custom topic reply payload is neither a string nor a Buffer (plugin bug)');
      return this.answerError(msg, responseTopic, AlinkCodes.REQUEST_ERROR, 'reply payload is neither a string nor a Buffer');
    }
    const properties: MessageProperties = { correlationData: msg.properties?.correlationData };
    if (reply.userProperties) properties.userProperties = reply.userProperties;
    if (reply.contentType) properties.contentType = reply.contentType;
    const qos = reply.qos ?? (msg.qos === 0 ? 0 : 1);
    await this.core.replier.send(responseTopic, reply.payload, qos, undefined, properties, 'custom');
  }

  private answerError(msg: InboundMessage, responseTopic: string, code: number, message: string): Promise<void> {
    const properties: MessageProperties = { correlationData: msg.properties?.correlationData };
    return this.core.replier.error(responseTopic, '', code, message, msg.qos === 0 ? 0 : 1, undefined, properties, 'custom');
  }
}
