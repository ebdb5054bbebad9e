export type { Upstream, CloudReply, PostOptions, EventPostOptions, CustomPublishOptions, TimedValue, PostHandle, PublishHandle, StoredReceipt } from '../../handlers/api';
export { UpstreamTimeoutError, TopicError } from '../../handlers/api';
export { AlinkUpstream, type UpstreamOptions } from './upstream';
export { CloudReplyError, ValidationError } from '../../thing-model/codes';
