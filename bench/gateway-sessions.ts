/**
 * bench:gateway, parts (b) and (c): one gateway (the agent CLI, bench/gateway-devices.ts) with 2,000 configured
 * sub-devices on the simulator's managed mosquitto (BENCH_GATEWAY_BROKER=embedded for aedes).
 *
 * (b) from the gateway's CONNACK (the platform's connect event) until the platform has the 2,000th sub-device
 *     logged in, on the first start (topology added too) and after a broker restart (logins only), against the
 *     floor the login rate sets: 2,000 / `gateway.loginsPerSecond` (the agent's default, 180/s) and 2,000 / 200
 *     (the platform's limit, docs/protocol/gateway.md "Limits and pacing").
 * (c) RSS (VmRSS) of that gateway once everything is online, against a gateway with no sub-devices, per sub-device.
 */
import { SUB_LOGINS_PER_SECOND_MAX } from '../thing-model/wire';
import { spawnCliGateway } from './gateway-devices';
import { PlatformLedger } from './fleet/ledger';
import { sleep } from './fleet/fleet';
import { startWorld, type FleetGateway, type World } from './fleet/world';
import { rssMb } from './proc';

export const SUBS = Number(process.env.BENCH_GATEWAY_SUBS ?? 2000);
/** The agent's default `gateway.loginsPerSecond` (agent/config/gateway-section.ts). */
export const AGENT_LOGINS_PER_SECOND = Math.floor(SUB_LOGINS_PER_SECOND_MAX * 0.9);
const SETTLE_MS = 2000;
/**
 * The managed mosquitto by default: the embedded broker checks each SUBSCRIBE against every filter the connection
 * already holds (simulator/mqtt/embedded-broker.ts, authorizeSubscribe), so 2,000 sub-devices x 14 filters take it
 * minutes, which would measure the simulator rather than the agent.
 */
const BROKER = (process.env.BENCH_GATEWAY_BROKER ?? 'managed') as 'managed' | 'embedded';

export interface SessionsRound {
  /** First start: CONNACK to the last login, ms (topology reconciled and added first). */
  firstMs: number;
  /** After a broker restart: CONNACK to the last login, ms. */
  reconnectMs: number;
  rssMb: number;
  baselineRssMb: number;
  /** (rssMb − baselineRssMb) / SUBS, in KB. */
  kbPerSub: number;
}

const key = (d: { productKey: string; deviceName: string }) => `${d.productKey}/${d.deviceName}`;

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** CONNACK (the first gateway connect at or after `since`) to the last sub-device login after it. */
function loginSpan(ledger: PlatformLedger, since: number): number {
  const { connects, logins } = ledger.since(since);
  const connack = connects[0];
  if (connack === undefined || logins.length < SUBS) throw new Error(`expected a connect and ${SUBS} logins, saw ${connects.length} and ${logins.length}`);
  return Math.max(...logins.slice(-SUBS)) - connack;
}

export class SessionsBench {
  private constructor(
    private readonly world: World,
    private readonly ledger: PlatformLedger,
  ) {}

  static async start(): Promise<SessionsBench> {
    const world = await startWorld({ gateways: 2, subDevices: SUBS, tsls: [], broker: BROKER });
    return new SessionsBench(world, new PlatformLedger(world.sim, world.products));
  }

  private allOnline(gw: FleetGateway): boolean {
    return this.ledger.online.has(key(gw.id)) && gw.subs.every((s) => this.ledger.online.has(key(s.id)));
  }

  private noneOnline(gw: FleetGateway): boolean {
    return !this.ledger.online.has(key(gw.id)) && gw.subs.every((s) => !this.ledger.online.has(key(s.id)));
  }

  async round(): Promise<SessionsRound> {
    const [gw, bare] = this.world.gateways as [FleetGateway, FleetGateway];
    const t0 = Date.now();
    const cli = spawnCliGateway(this.world, gw, SUBS, 'sessions');
    let firstMs: number;
    let reconnectMs: number;
    let rss: number;
    try {
      await until(`${SUBS} sub-devices online`, () => this.allOnline(gw), 120_000);
      firstMs = loginSpan(this.ledger, t0);
      const t1 = Date.now();
      await this.world.sim.restartBroker(200);
      await until('the outage seen', () => !this.ledger.online.has(key(gw.id)) || Date.now() - t1 > 3000, 5000);
      await until(`${SUBS} sub-devices online again`, () => this.allOnline(gw), 120_000);
      reconnectMs = loginSpan(this.ledger, t1);
      await sleep(SETTLE_MS);
      rss = rssMb(cli.proc.pid as number);
    } finally {
      await cli.stop();
    }
    await until('the gateway gone', () => this.noneOnline(gw), 10_000);
    const base = spawnCliGateway(this.world, { ...bare, subs: [] }, 0, 'baseline');
    let baselineRssMb: number;
    try {
      await until('the bare gateway online', () => this.ledger.online.has(key(bare.id)), 30_000);
      await sleep(SETTLE_MS);
      baselineRssMb = rssMb(base.proc.pid as number);
    } finally {
      await base.stop();
    }
    await until('the bare gateway gone', () => !this.ledger.online.has(key(bare.id)), 10_000);
    return { firstMs, reconnectMs, rssMb: rss, baselineRssMb, kbPerSub: ((rss - baselineRssMb) * 1024) / SUBS };
  }

  async stop(): Promise<void> {
    this.ledger.close();
    await this.world.stop();
  }
}
