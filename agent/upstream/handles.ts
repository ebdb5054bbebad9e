/**
 * The handles the upstream API returns (handlers/api/upstream.ts): a promise of the answer, for the call sites
 * that await the call, carrying the two moments by name. Both promises are marked handled: a plugin awaits the
 * one it needs, and the other must not end the process as an unhandled rejection.
 */
import type { CloudReply, PostHandle, PublishHandle, StoredReceipt } from '../../handlers/api';

function ignore(): void {}

/** `reply` carrying `stored` and itself as `reply`. */
export function postHandle(reply: Promise<CloudReply>, stored: Promise<StoredReceipt>): PostHandle {
  reply.catch(ignore);
  stored.catch(ignore);
  return Object.defineProperties(reply, {
    stored: { value: stored, enumerable: true },
    reply: { value: reply, enumerable: true },
  }) as PostHandle;
}

/** A post refused before anything was published (validation): both moments reject with `err`. */
export function rejectedPost(err: Error): PostHandle {
  const rejected = Promise.reject(err);
  return postHandle(rejected, rejected as Promise<never>);
}

/** `stored` carrying itself as `stored` and the PUBACK as `acked` (rejecting like `stored` when it was never taken). */
export function publishHandle(stored: Promise<StoredReceipt>): PublishHandle {
  const acked = stored.then((r) => r.acked);
  acked.catch(ignore);
  stored.catch(ignore);
  return Object.defineProperties(stored, {
    stored: { value: stored, enumerable: true },
    acked: { value: acked, enumerable: true },
  }) as PublishHandle;
}
