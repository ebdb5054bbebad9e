/**
 * bench:gateway, parts (b) and (c): one gateway (the agent CLI, bench/gateway-devices.ts) with 2,000 configured
 * sub-devices on the simulator's managed mosquitto (BENCH_GATEWAY_BROKER=embedded for aedes).
 *
 * (b) from the gateway's CONNACK (the platform's connect event) until the platform has the 2,000th sub-device
 *     logged in, on the first start (topology added too) and after a broker restart (logins only), against the
 *     floor the login rate sets: 2,000 / `gateway.loginsPerSecond` (the agent's default, 180/s) and 2,000 / 200
 *     (the platform's limit, docs/protocol/gateway.md "Limits and pacing").
 * (c) RSS (VmRSS) of that gateway once everything is online, against a gateway with no sub-devices, per sub-device;
 *     then again after one property set to each of BENCH_GATEWAY_ACTIVE (default 200) of them: a sub-device's
 *     router is built on its first message (agent/gateway/traffic/routers.ts), so a device that has had traffic
 *     costs more than one that is only configured.
 */
import { SUB_LOGINS_PER_SECOND_MAX } from '../thing-model/wire';
import { CLOUD_CLIENT, SetCloud } from './gateway-cloud';
import { spawnCliGateway } from './gateway-devices';
import { withTimeout } from './stats';
import { PlatformLedger } from './fleet/ledger';
import { sleep } from './fleet/fleet';
import { startWorld, type FleetGateway, type World } from './fleet/world';
import { rssMb } from './proc';

export const SUBS = Number(process.env.BENCH_GATEWAY_SUBS ?? 2000);
/** The agent's default `gateway.loginsPerSecond` (agent/config/gateway-section.ts). */
export const AGENT_LOGINS_PER_SECOND = Math.floor(SUB_LOGINS_PER_SECOND_MAX * 0.9);
const SETTLE_MS = 2000;
const ACTIVE = Number(process.env.BENCH_GATEWAY_ACTIVE ?? 200);
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
  /** RSS growth after one set to each of ACTIVE sub-devices, per such device, in KB. */
  kbPerActiveSub: number;
}

const key = (d: { productKey: string; deviceName: string }) => `${d.productKey}/${d.deviceName}`;

async function until(what: string, check: () => boolean, timeoutMs: number, detail: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms ${detail()}`);
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
    const world = await startWorld({ gateways: 2, subDevices: SUBS, tsls: [], broker: BROKER, serviceClients: [CLOUD_CLIENT] });
    return new SessionsBench(world, new PlatformLedger(world.sim, world.products));
  }

  private allOnline(gw: FleetGateway): boolean {
    // The gateway by the platform's state too: after a broker restart the old connection's offline event can arrive
    // after the new one's online event (seen once in a few dozen rounds), while the state says ONLINE.
    const gwOnline = this.ledger.online.has(key(gw.id)) || this.world.sim.deviceStatus(gw.id.productKey, gw.id.deviceName).status === 'ONLINE';
    return gwOnline && gw.subs.every((s) => this.ledger.online.has(key(s.id)));
  }

  /** How many of the gateway's sub-devices the platform has online, by its events and by its state. */
  private census(gw: FleetGateway): string {
    const events = gw.subs.filter((s) => this.ledger.online.has(key(s.id))).length;
    const state = gw.subs.filter((s) => this.world.sim.deviceStatus(s.id.productKey, s.id.deviceName).status === 'ONLINE').length;
    const gwState = this.world.sim.deviceStatus(gw.id.productKey, gw.id.deviceName).status;
    return `(online: ${events} by the platform's events, ${state} by its state; gateway ${this.ledger.online.has(key(gw.id)) ? 'online' : 'offline'} by events, ${gwState} by state)`;
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
    let active: number;
    try {
      await until(`${SUBS} sub-devices online`, () => this.allOnline(gw), 120_000);
      firstMs = loginSpan(this.ledger, t0);
      const t1 = Date.now();
      await this.world.sim.restartBroker(200);
      await until('the outage seen', () => !this.ledger.online.has(key(gw.id)) || Date.now() - t1 > 3000, 5000);
      await until(`${SUBS} sub-devices online again`, () => this.allOnline(gw), 120_000, () => this.census(gw));
      reconnectMs = loginSpan(this.ledger, t1);
      await sleep(SETTLE_MS);
      rss = rssMb(cli.proc.pid as number);
      const cloud = await SetCloud.connect(this.world.mqttUrl);
      try {
        for (const s of gw.subs.slice(0, ACTIVE)) {
          const code = await withTimeout(cloud.set(s.id, { [s.product.setProperty]: s.product.setValues[0] }), 10_000, 'a property set');
          if (code !== 200) throw new Error(`a property set to ${s.id.deviceName} answered ${code}`);
        }
      } finally {
        await cloud.end();
      }
      await sleep(SETTLE_MS);
      active = rssMb(cli.proc.pid as number);
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
    return { firstMs, reconnectMs, rssMb: rss, baselineRssMb, kbPerSub: ((rss - baselineRssMb) * 1024) / SUBS, kbPerActiveSub: ((active - rss) * 1024) / ACTIVE };
  }

  async stop(): Promise<void> {
    this.ledger.close();
    await this.world.stop();
  }
}
