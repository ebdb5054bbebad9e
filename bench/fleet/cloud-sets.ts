/**
 * The fleet's cloud-side load: property sets through the official cloud SDK (`SetDeviceProperty`), spread at
 * random over the sub-devices at a fixed total rate, each timed from the call until the simulator received the
 * device's `set_reply` (the platform's view of a set's latency).
 */
import { performance } from 'node:perf_hooks';
import * as $Iot from '@alicloud/iot20180120';
import type Iot from '@alicloud/iot20180120';
import type { CloudSimulator } from '../../simulator/cloud-simulator';
import type { DeviceReply } from '../../simulator/state/device-state';
import type { DeviceIdentity } from '../../thing-model/wire';
import type { FleetProduct } from './model';

export interface SetTarget {
  id: DeviceIdentity;
  product: FleetProduct;
}

export interface SetCounts {
  sent: number;
  /** Not sent: no sub-device online, or `maxInFlight` API calls already waiting. */
  skipped: number;
  /** Answered by the device with 200. */
  ok: number;
  /** Answered by the device with another code. */
  failed: number;
  /** Refused by the cloud API (device offline, throttled) or no answer from the device in time. */
  notDelivered: number;
  /** Latencies in ms of the sets answered 200. */
  latencies: number[];
  /** Answered 200: `{pk}/{dn}` and the set's message id, with the time of the answer. */
  answered: { device: string; id: string; at: number }[];
}

export class CloudSets {
  readonly counts: SetCounts = { sent: 0, skipped: 0, ok: 0, failed: 0, notDelivered: 0, latencies: [], answered: [] };
  private timer: NodeJS.Timeout | undefined;
  private credit = 0;
  private inFlight = 0;
  private readonly pending = new Map<string, { t0: number; timer: NodeJS.Timeout }>();
  /** Replies that came before the API call returned its message id. */
  private readonly early = new Map<string, DeviceReply>();
  private readonly onReply = (r: DeviceReply) => {
    if (r.kind !== 'propertySetReply' || r.id === undefined) return;
    const p = this.pending.get(r.id);
    if (!p) return void this.early.set(r.id, r);
    this.settle(r.id, p, r);
  };

  constructor(
    private readonly sim: CloudSimulator,
    private readonly iot: Iot,
    private readonly targets: () => readonly SetTarget[],
    private readonly setsPerSecond: number,
    private readonly maxInFlight = 64,
    private readonly replyTimeoutMs = 10_000,
  ) {
    sim.on('deviceReply', this.onReply);
  }

  start(): void {
    if (this.timer || this.setsPerSecond <= 0) return;
    const tickMs = 20;
    let last = performance.now();
    this.timer = setInterval(() => {
      // Owed for the time since the last tick: a busy loop delays ticks, the rate must not drop with them.
      const now = performance.now();
      this.credit += ((now - last) * this.setsPerSecond) / 1000;
      last = now;
      for (; this.credit >= 1; this.credit--) {
        const all = this.targets();
        // Past the window the set is not sent, and counted: the cloud side is the bottleneck then, not the fleet.
        if (all.length === 0 || this.inFlight >= this.maxInFlight) {
          this.counts.skipped++;
          continue;
        }
        void this.setOne(all[Math.floor(Math.random() * all.length)] as SetTarget);
      }
    }, tickMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops and waits until every set sent has been answered or timed out. */
  async drain(timeoutMs = this.replyTimeoutMs + 1000): Promise<void> {
    this.stop();
    const deadline = Date.now() + timeoutMs;
    while ((this.inFlight > 0 || this.pending.size > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.sim.off('deviceReply', this.onReply);
  }

  private async setOne(t: SetTarget): Promise<void> {
    const value = t.product.setValues[this.counts.sent % t.product.setValues.length];
    this.counts.sent++;
    this.inFlight++;
    const t0 = performance.now();
    try {
      const res = await this.iot.setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...t.id, items: JSON.stringify({ [t.product.setProperty]: value }) }));
      const id = res.body.data?.messageId;
      if (!res.body.success || !id) return void this.counts.notDelivered++;
      const p = { t0, timer: setTimeout(() => this.expire(id), this.replyTimeoutMs) };
      this.pending.set(id, p);
      const early = this.early.get(id);
      if (early) this.settle(id, p, early);
    } catch {
      this.counts.notDelivered++;
    } finally {
      this.inFlight--;
    }
  }

  private settle(id: string, p: { t0: number; timer: NodeJS.Timeout }, r: DeviceReply): void {
    clearTimeout(p.timer);
    this.pending.delete(id);
    this.early.delete(id);
    if (r.code !== 200) return void this.counts.failed++;
    this.counts.ok++;
    this.counts.latencies.push(performance.now() - p.t0);
    this.counts.answered.push({ device: `${r.productKey}/${r.deviceName}`, id, at: r.receivedAt });
  }

  private expire(id: string): void {
    if (!this.pending.delete(id)) return;
    this.counts.notDelivered++;
  }
}
