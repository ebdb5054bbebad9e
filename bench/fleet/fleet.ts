/**
 * A running fleet: the cloud (bench/fleet/world.ts), N gateways in this process and, for the kill scenario, one
 * more as a child process, the platform's ledger of what it stored, and the load (posts from every sub-device,
 * sets from the cloud). The scenarios (bench/fleet/scenarios.ts) drive it.
 */
import { startInProcessGateway, type InProcessGateway } from './agents';
import { ChildGateway } from './child';
import { CloudSets, type SetTarget } from './cloud-sets';
import { PlatformLedger } from './ledger';
import { Poster } from './poster';
import { startWorld, type FleetGateway, type World, type WorldOptions } from './world';

export type Scenario = 'steady' | 'broker-restart' | 'kill-gateway';
export const SCENARIOS: readonly Scenario[] = ['steady', 'broker-restart', 'kill-gateway'];

export interface FleetOptions extends WorldOptions {
  /** Property posts per second of each sub-device. */
  postsPerSecond: number;
  /** Property sets per second from the cloud, over every sub-device. */
  setsPerSecond: number;
  /** How long each scenario runs its load. */
  durationMs: number;
  /** How long the broker (broker-restart) or the gateway (kill-gateway) stays down. */
  downMs: number;
  logLevel: string;
  reconnectMaxMs: number;
  /** The longest a fleet may take to get (back) online, and to deliver what it accepted. */
  settleTimeoutMs: number;
  /** Run one gateway as a child process (the kill-gateway scenario needs it). */
  child: boolean;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Fleet {
  readonly ledger: PlatformLedger;
  readonly gateways: InProcessGateway[] = [];
  child: ChildGateway | undefined;
  /** The post keys accepted in this process since the last `takeAccepted`. */
  private accepted = new Set<string>();
  private posters: Poster[] = [];

  private constructor(
    readonly world: World,
    readonly o: FleetOptions,
  ) {
    this.ledger = new PlatformLedger(world.sim, world.products);
  }

  /** Starts the cloud and every gateway; resolves with the fleet once every device is online (or throws). */
  static async start(o: FleetOptions): Promise<{ fleet: Fleet; onlineMs: number }> {
    const world = await startWorld(o);
    const fleet = new Fleet(world, o);
    const t0 = Date.now();
    try {
      const agentOpts = { logLevel: o.logLevel, reconnectMaxMs: o.reconnectMaxMs };
      const [first, ...rest] = world.gateways;
      if (o.child && first) {
        fleet.child = new ChildGateway(first, world, { ...agentOpts, postsPerSecond: o.postsPerSecond });
        fleet.child.start();
      }
      for (const gw of o.child ? rest : world.gateways) fleet.gateways.push(await startInProcessGateway(world, gw, agentOpts));
      await fleet.waitOnline(o.settleTimeoutMs, 'the fleet online');
    } catch (err) {
      await fleet.stop();
      throw err;
    }
    return { fleet, onlineMs: Date.now() - t0 };
  }

  /** Every device of the fleet the cloud can set: all sub-devices online now. */
  setTargets(): SetTarget[] {
    return this.world.gateways.flatMap((g) => g.subs).filter((s) => this.ledger.online.has(`${s.id.productKey}/${s.id.deviceName}`));
  }

  /** True when every gateway and sub-device is online, as the agents count it and as the platform does. */
  allOnline(): boolean {
    const M = this.o.subDevices;
    if (!this.gateways.every((g) => g.agent.state === 'connected' && g.online() === M)) return false;
    const onlineAtPlatform = (gw: FleetGateway) => [gw.id, ...gw.subs.map((s) => s.id)].every((d) => this.ledger.online.has(`${d.productKey}/${d.deviceName}`));
    return this.world.gateways.every(onlineAtPlatform);
  }

  async waitOnline(timeoutMs: number, what: string): Promise<number> {
    const t0 = Date.now();
    while (!this.allOnline()) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not every device online after ${timeoutMs} ms${this.child ? `; child stderr: ${this.child.stderr.slice(-500)}` : ''}`);
      await sleep(20);
    }
    return Date.now() - t0;
  }

  /** Starts the posts of the in-process gateways and the cloud's sets. */
  startLoad(): CloudSets {
    const sets = new CloudSets(this.world.sim, this.world.iot, () => this.setTargets(), this.o.setsPerSecond);
    this.posters = this.gateways.map(
      (g) =>
        new Poster(
          g.gw.subs.map((s) => ({ device: s.id, seqProperty: s.product.seqProperty })),
          this.o.postsPerSecond,
          (d) => g.agent.gateway.api.upstream(d),
          (k) => this.accepted.add(k),
          this.lastSeqs,
        ),
    );
    for (const p of this.posters) p.start();
    sets.start();
    return sets;
  }

  /** Stops the posts (the sets are the caller's: `sets.drain()`); returns what the posters counted. */
  stopLoad(): { accepted: number; refused: number; firstRefusal?: string } {
    let accepted = 0;
    let refused = 0;
    let firstRefusal: string | undefined;
    for (const p of this.posters) {
      p.stop();
      accepted += p.counts.accepted;
      refused += p.counts.refused;
      firstRefusal ??= p.counts.firstRefusal;
    }
    for (const k of this.accepted) {
      const [dev, seq] = k.split('#') as [string, string];
      this.lastSeqs.set(dev, Math.max(this.lastSeqs.get(dev) ?? 0, Number(seq)));
    }
    this.posters = [];
    return { accepted, refused, ...(firstRefusal ? { firstRefusal } : {}) };
  }

  private readonly lastSeqs = new Map<string, number>();

  /** The keys accepted in this process since the last call (a scenario's own). */
  takeAccepted(): Set<string> {
    const out = this.accepted;
    this.accepted = new Set();
    return out;
  }

  /** Waits until the platform stored every key (or the settle timeout); returns those it still lacks. */
  async delivered(keys: Iterable<string>): Promise<string[]> {
    const t0 = Date.now();
    let missing = this.ledger.missing(keys);
    while (missing.length > 0 && Date.now() - t0 < this.o.settleTimeoutMs) {
      await sleep(100);
      missing = this.ledger.missing(missing);
    }
    return missing;
  }

  async stop(): Promise<void> {
    for (const p of this.posters) p.stop();
    await this.child?.stop().catch(() => undefined);
    this.child?.cleanup();
    await Promise.all(this.gateways.map((g) => g.stop().catch(() => undefined)));
    this.ledger.close();
    await this.world.stop();
  }
}
