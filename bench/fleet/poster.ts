/**
 * The fleet's post load: every sub-device posts its product's sequence property (1, 2, 3... per device) at a
 * fixed rate through `ctx.gateway.upstream(device).postProperties` (QoS 1, the durable outbox). A post counts as
 * accepted when its `stored` promise resolved durable: from then on losing it is the agent's fault. Used in this
 * process (in-process gateways) and by the child gateway's plugin (bench/fleet/child-plugin.ts).
 */
import { performance } from 'node:perf_hooks';
import type { DeviceIdentity, Upstream } from '../../handlers/api';

/** One sub-device the poster drives. */
export interface PostTarget {
  device: DeviceIdentity;
  seqProperty: string;
}

/** What the poster saw of its own posts. */
export interface PostCounts {
  /** Posts whose `stored` resolved with `durable: true`. */
  accepted: number;
  /** `stored` resolved, but only in memory (an agent without stores): not counted as accepted. */
  volatile: number;
  /** `stored` rejected: never taken, so never owed. */
  refused: number;
  /** The first refusal's message, for the report. */
  firstRefusal?: string;
}

/** The key of one post in the fleet's ledgers: `{pk}/{dn}#{seq}`. */
export const postKey = (d: DeviceIdentity, seq: number) => `${d.productKey}/${d.deviceName}#${seq}`;

export class Poster {
  readonly counts: PostCounts = { accepted: 0, volatile: 0, refused: 0 };
  private timer: NodeJS.Timeout | undefined;
  private readonly seq: Map<string, number>;
  private credit = 0;
  private next = 0;

  /**
   * @param upstream the sub-device's Upstream (throws for a device the agent does not know: counted as refused)
   * @param onAccepted called with the post's key once the agent holds it durably
   * @param startSeq the last sequence number each device already used (a restarted child continues from there)
   */
  constructor(
    private readonly targets: readonly PostTarget[],
    private readonly postsPerSecond: number,
    private readonly upstream: (d: DeviceIdentity) => Upstream,
    private readonly onAccepted: (key: string) => void,
    startSeq: ReadonlyMap<string, number> = new Map(),
    private readonly tickMs = 50,
  ) {
    this.seq = new Map(targets.map((t) => [`${t.device.productKey}/${t.device.deviceName}`, startSeq.get(`${t.device.productKey}/${t.device.deviceName}`) ?? 0]));
  }

  start(): void {
    if (this.timer || this.postsPerSecond <= 0 || this.targets.length === 0) return;
    // One timer for every device: a round-robin over the targets, as many posts per tick as the total rate owes for
    // the time since the last tick (a busy loop delays ticks; the rate must not drop with them).
    const perMs = (this.postsPerSecond * this.targets.length) / 1000;
    let last = performance.now();
    this.timer = setInterval(() => {
      const now = performance.now();
      this.credit += (now - last) * perMs;
      last = now;
      for (; this.credit >= 1; this.credit--) this.postOne(this.targets[this.next++ % this.targets.length] as PostTarget);
    }, this.tickMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private postOne(t: PostTarget): void {
    const k = `${t.device.productKey}/${t.device.deviceName}`;
    const seq = (this.seq.get(k) ?? 0) + 1;
    this.seq.set(k, seq);
    let stored: Promise<{ durable: boolean }>;
    try {
      stored = this.upstream(t.device).postProperties({ [t.seqProperty]: seq }).stored;
    } catch (err) {
      stored = Promise.reject(err);
    }
    stored.then(
      (r) => {
        if (!r.durable) return void this.counts.volatile++;
        this.counts.accepted++;
        this.onAccepted(postKey(t.device, seq));
      },
      (err: unknown) => {
        this.counts.refused++;
        this.counts.firstRefusal ??= err instanceof Error ? err.message : String(err);
      },
    );
  }
}
