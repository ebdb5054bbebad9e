/**
 * Static device tags from the configuration (`tags`: site, firmware, ...), posted with `thing.deviceinfo.update`
 * after every connect (docs/protocol/tags.md): updates add and change, never remove, so posting them again is
 * harmless and keeps the cloud's copy right after someone changed it there.
 */
import type { Logger } from 'pino';
import type { AlinkUpstream } from '../upstream/upstream';

export class StaticTags {
  constructor(
    private readonly tags: Record<string, string>,
    private readonly upstream: AlinkUpstream,
    private readonly logger: Logger,
  ) {}

  /** Never rejects: a refused or unanswered update is logged. */
  async onConnected(): Promise<void> {
    const keys = Object.keys(this.tags);
    if (keys.length === 0) return;
    try {
      await this.upstream.updateTags(this.tags);
      this.logger.debug({ keys }, 'static tags posted');
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, code: (err as { code?: unknown }).code, keys }, 'static tags not accepted');
    }
  }
}
