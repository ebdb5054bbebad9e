/**
 * Pub (seed 004): a message on a device's custom topic `/{pk}/{dn}/user/...`, QoS 0 or 1, MessageContent in
 * base64. ResponseTopic, CorrelationData (base64 → bytes) and user properties travel as MQTT 5 properties in
 * external-broker mode; the embedded broker speaks MQTT 3.1.1 and drops them. MessageId is a string.
 */
import { ApiErrors } from '../errors';
import type { Mqtt5Properties } from '../mqtt/link';
import { base64Param, deviceNameSchema, findDevice, findProduct, optionalText, productKeySchema } from './common';
import type { ApiAction } from './types';

export const MAX_USER_PROPERTIES = 20;

export interface PubParams {
  ProductKey: string;
  TopicFullName: string;
  MessageContent: string;
  Qos?: number;
  DeviceName?: string;
  ResponseTopic?: string;
  CorrelationData?: string;
  UserProp?: { Key?: string; Value?: string }[];
  IotInstanceId?: string;
}

const topicSchema = (expected: string) => ({ type: 'string', minLength: 2, maxLength: 256, pattern: '^/[^+#]*$', expected });

export const pub: ApiAction<PubParams> = {
  name: 'Pub',
  lists: ['UserProp'],
  schema: {
    type: 'object',
    required: ['ProductKey', 'TopicFullName', 'MessageContent'],
    properties: {
      ProductKey: productKeySchema,
      TopicFullName: topicSchema('a topic /{ProductKey}/{DeviceName}/user/... without wildcards'),
      MessageContent: { type: 'string', expected: 'base64 text' },
      Qos: { type: 'integer', enum: [0, 1], expected: '0 or 1' },
      DeviceName: deviceNameSchema,
      ResponseTopic: topicSchema('a topic starting with / without wildcards'),
      CorrelationData: { type: 'string', maxLength: 1024, expected: 'base64 text' },
      UserProp: {
        type: 'array',
        maxItems: MAX_USER_PROPERTIES,
        expected: `at most ${MAX_USER_PROPERTIES} pairs UserProp.N.Key / UserProp.N.Value`,
        items: {
          type: 'object',
          required: ['Key', 'Value'],
          expected: 'a pair UserProp.N.Key and UserProp.N.Value',
          properties: {
            Key: { type: 'string', minLength: 1, maxLength: 128, expected: 'a key of 1..128 characters' },
            Value: { type: 'string', maxLength: 128, expected: 'a value of at most 128 characters' },
          },
        },
      },
      IotInstanceId: optionalText(128),
    },
  },
  async handle(p, deps) {
    findProduct(deps.registry, p.ProductKey);
    const levels = p.TopicFullName.split('/');
    const dn = levels[2];
    if (levels[1] !== p.ProductKey || !dn || levels[3] !== 'user' || levels.length < 5 || levels[4] === '') {
      throw ApiErrors.invalidParameter('TopicFullName', `a topic /${p.ProductKey}/{DeviceName}/user/...`, p.TopicFullName);
    }
    if (p.DeviceName !== undefined && p.DeviceName !== dn) {
      throw ApiErrors.invalidParameter('DeviceName', `the device of TopicFullName ("${dn}")`, p.DeviceName);
    }
    findDevice(deps.registry, p.ProductKey, dn);
    const payload = base64Param('MessageContent', p.MessageContent, { maxBytes: deps.maxPayloadBytes });
    const props: Mqtt5Properties = {};
    if (p.ResponseTopic !== undefined) props.responseTopic = p.ResponseTopic;
    if (p.CorrelationData !== undefined) props.correlationData = base64Param('CorrelationData', p.CorrelationData, { loose: true });
    if (p.UserProp?.length) {
      const user: Record<string, string | string[]> = {};
      for (const { Key, Value } of p.UserProp) {
        const k = Key!;
        const prev = user[k];
        user[k] = prev === undefined ? Value! : Array.isArray(prev) ? [...prev, Value!] : [prev, Value!];
      }
      props.userProperties = user;
    }
    const qos = (p.Qos ?? 0) as 0 | 1;
    const messageId = await deps.platform.pub(p.TopicFullName, payload, qos, Object.keys(props).length ? props : undefined);
    return { MessageId: messageId };
  },
};
