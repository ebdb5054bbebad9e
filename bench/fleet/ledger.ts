/**
 * What the platform saw, kept from the simulator's events: every property post it stored (by the post's sequence
 * key, so a post accepted by an agent and never stored is found by name), devices coming online (connects of
 * gateways, logins of sub-devices, counted per second for the reconnect storm), and who is online now.
 */
import type { CloudSimulator } from '../../simulator/cloud-simulator';
import { postKey } from './poster';
import type { FleetProduct } from './model';

export class PlatformLedger {
  /** Keys of posts the platform stored (answered 200). */
  readonly stored = new Set<string>();
  /** Posts stored a second time (QoS 1 is at least once: redelivery after a reconnect is allowed). */
  duplicates = 0;
  /** Posts the platform answered with another code. */
  refused = 0;
  readonly online = new Set<string>();
  private readonly connects: number[] = [];
  private readonly logins: number[] = [];
  private readonly detach: () => void;

  constructor(sim: CloudSimulator, products: readonly FleetProduct[]) {
    const seqOf = new Map(products.map((p) => [p.productKey, p.seqProperty]));
    const onPost = (p: { productKey: string; deviceName: string; params: unknown; code: number }) => {
      const prop = seqOf.get(p.productKey);
      if (!prop) return;
      if (p.code !== 200) return void this.refused++;
      const seq = (p.params as Record<string, unknown> | undefined)?.[prop];
      if (typeof seq !== 'number') return;
      const key = postKey(p, seq);
      if (this.stored.has(key)) this.duplicates++;
      else this.stored.add(key);
    };
    const onOnline = (d: { productKey: string; deviceName: string; gateway?: unknown }) => {
      this.online.add(`${d.productKey}/${d.deviceName}`);
      (d.gateway ? this.logins : this.connects).push(Date.now());
    };
    const onOffline = (d: { productKey: string; deviceName: string }) => this.online.delete(`${d.productKey}/${d.deviceName}`);
    sim.on('propertyPost', onPost);
    sim.on('deviceOnline', onOnline);
    sim.on('deviceOffline', onOffline);
    this.detach = () => {
      sim.off('propertyPost', onPost);
      sim.off('deviceOnline', onOnline);
      sim.off('deviceOffline', onOffline);
    };
  }

  /** The most gateway connects and sub-device logins in any one-second window starting at or after `since`. */
  peaks(since: number): { connectsPerSecond: number; loginsPerSecond: number } {
    return { connectsPerSecond: peak(this.connects, since), loginsPerSecond: peak(this.logins, since) };
  }

  /** When gateway connects and sub-device logins happened at or after `since` (ms epoch, ascending). */
  since(since: number): { connects: number[]; logins: number[] } {
    return { connects: this.connects.filter((t) => t >= since), logins: this.logins.filter((t) => t >= since) };
  }

  /** Accepted keys the platform has not stored. */
  missing(accepted: Iterable<string>): string[] {
    return [...accepted].filter((k) => !this.stored.has(k));
  }

  close(): void {
    this.detach();
  }
}

/** The largest count of `times` (ascending) inside any window [t, t + 1 s) with t ≥ since. */
function peak(times: readonly number[], since: number): number {
  const ts = times.filter((t) => t >= since);
  let best = 0;
  for (let i = 0, j = 0; j < ts.length; j++) {
    while ((ts[j] as number) - (ts[i] as number) >= 1000) i++;
    best = Math.max(best, j - i + 1);
  }
  return best;
}
