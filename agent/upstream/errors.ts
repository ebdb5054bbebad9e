/** Errors of the upstream API that are not Alink codes (those live in thing-model/codes.ts). */

/** No `_reply` arrived within the timeout. The pending entry has been removed; a late reply is ignored. */
export class UpstreamTimeoutError extends Error {
  override readonly name = 'UpstreamTimeoutError';
  constructor(
    readonly requestId: string,
    readonly topic: string,
    readonly timeoutMs: number,
  ) {
    super(`no reply to ${topic} (id ${requestId}) within ${timeoutMs} ms`);
  }
}

/** A custom-topic publish named a topic outside this device's `/{productKey}/{deviceName}/user/` space. */
export class TopicError extends Error {
  override readonly name = 'TopicError';
}
