/** The downstream de-duplication cache (see agent/outbox/README.md, "Inbox"). */
export { Inbox, type InboxOptions, type InboxStats } from './inbox';
export * from './errors';
