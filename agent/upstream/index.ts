export * from './types';
export { UpstreamTimeoutError, TopicError } from './errors';
export { AlinkUpstream, type UpstreamOptions } from './upstream';
export { CloudReplyError, ValidationError } from '../../thing-model/codes';
