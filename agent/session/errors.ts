/**
 * The session's error table: every error a caller of the session can receive, one constructor each.
 * Errors are values with a stable `code`; messages name the limit and the value that broke it.
 */

export type SessionErrorCode =
  | 'AGENT_PAYLOAD_TOO_LARGE'
  | 'AGENT_TOPIC_TOO_LONG'
  | 'AGENT_TOPIC_INVALID'
  | 'AGENT_RATE_LIMITED'
  | 'AGENT_NOT_CONNECTED'
  | 'AGENT_SESSION_STOPPED'
  | 'AGENT_SUBSCRIBE_REFUSED'
  | 'AGENT_SUBSCRIBE_FAILED'
  | 'AGENT_PUBLISH_FAILED';

/** An error from the session: a publish refused by a limit or by the connection, or a refused subscription. */
export class SessionError extends Error {
  constructor(
    readonly code: SessionErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'SessionError';
  }
}

export const SessionErrors = {
  payloadTooLarge: (topic: string, bytes: number, limit: number) =>
    new SessionError('AGENT_PAYLOAD_TOO_LARGE', `payload of ${bytes} bytes for ${topic} exceeds limits.upstream.maxPayloadBytes (${limit})`, { topic, bytes, limit }),
  topicTooLong: (topic: string, length: number, limit: number) =>
    new SessionError('AGENT_TOPIC_TOO_LONG', `topic of ${length} bytes exceeds limits.upstream.maxTopicLength (${limit}): ${topic.slice(0, 64)}...`, { topic, length, limit }),
  topicInvalid: (topic: string) =>
    new SessionError('AGENT_TOPIC_INVALID', `cannot publish on ${JSON.stringify(topic)}: a publish topic is non-empty and has no + or #`, { topic }),
  rateLimited: (topic: string, limit: number) =>
    new SessionError('AGENT_RATE_LIMITED', `upstream rate limit of ${limit} messages/s reached; ${topic} not sent`, { topic, limit }),
  notConnected: (topic: string) =>
    new SessionError('AGENT_NOT_CONNECTED', `not connected: a QoS 0 message for ${topic} is not queued (use QoS 1 to have it sent after reconnecting)`, { topic }),
  stopped: (topic: string) => new SessionError('AGENT_SESSION_STOPPED', `the session is stopped; ${topic} not sent`, { topic }),
  subscribeRefused: (topic: string, reasonCode: number) =>
    new SessionError('AGENT_SUBSCRIBE_REFUSED', `the broker refused the subscription to ${topic} (SUBACK reason code 0x${reasonCode.toString(16)})`, {
      topic,
      reasonCode,
    }),
  subscribeFailed: (topics: string[], cause: Error) =>
    new SessionError('AGENT_SUBSCRIBE_FAILED', `subscribing to ${topics.join(', ')} failed: ${cause.message}`, { topics, cause: cause.message }),
  publishFailed: (topic: string, cause: Error) =>
    new SessionError('AGENT_PUBLISH_FAILED', `publish on ${topic} failed: ${cause.message}`, { topic, cause: cause.message }),
};
