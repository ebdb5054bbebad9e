/**
 * The fleet's cloud: the simulator (its embedded aedes, its managed mosquitto, or an external MQTT 5 broker such
 * as an EMQX cluster) with one gateway product, one sub-device product per TSL, every device of the fleet, the
 * platform's gateway limits raised to the fleet's size, and the official cloud SDK pointed at it.
 */
import { basename, join, resolve } from 'node:path';
import pino from 'pino';
import type Iot from '@alicloud/iot20180120';
import { CloudSimulator } from '../../simulator/cloud-simulator';
import { createIotClient } from '../../simulator/sdk-client';
import type { DeviceIdentity } from '../../thing-model/wire';
import { fleetProduct, type FleetProduct } from './model';

// Run from source (bench/fleet/) or from the build (dist/bench/fleet/): the TSLs live in the source tree.
export const ROOT = basename(resolve(__dirname, '..', '..')) === 'dist' ? resolve(__dirname, '..', '..', '..') : resolve(__dirname, '..', '..');
export const GATEWAY_TSL = join(ROOT, 'simulator', 'tsl', 'example-gateway.json');
export const SENSOR_TSL = join(ROOT, 'simulator', 'tsl', 'example-sensor.json');
export const GATEWAY_PK = 'a1FleetGw01';
/** Every device of the fleet has this secret: the fleet measures the agent, not secret handling. */
export const FLEET_SECRET = '5d0c2b7e9a4f4e1b8c3d6a2f1e0b9c87';

export type BrokerMode = 'embedded' | 'managed' | 'external';

export interface WorldOptions {
  gateways: number;
  subDevices: number;
  tsls: readonly string[];
  broker: BrokerMode;
  /** External mode: the broker's URL (devices and the simulator connect there). */
  brokerUrl?: string;
  /** Clients that may publish and subscribe anywhere (a benchmark's raw "cloud" and baseline clients). */
  serviceClients?: { username: string; password: string }[];
}

/** One gateway and the sub-devices behind it. */
export interface FleetGateway {
  index: number;
  id: DeviceIdentity;
  subs: { id: DeviceIdentity; product: FleetProduct }[];
}

export interface World {
  sim: CloudSimulator;
  iot: Iot;
  mqttUrl: string;
  protocolVersion: 4 | 5;
  products: FleetProduct[];
  gateways: FleetGateway[];
  stop(): Promise<void>;
}

const pad = (n: number, w: number) => String(n).padStart(w, '0');

/** The fleet's devices: gateway `fgw-0001` has sub-devices `g0001-s00001`..., products taken in turn. */
export function fleetLayout(o: Pick<WorldOptions, 'gateways' | 'subDevices' | 'tsls'>): { products: FleetProduct[]; gateways: FleetGateway[] } {
  const products = (o.tsls.length ? o.tsls : [SENSOR_TSL]).map((tsl, i) => fleetProduct(`a1FleetSub${pad(i + 1, 2)}`, tsl));
  const gateways = Array.from({ length: o.gateways }, (_, g) => ({
    index: g,
    id: { productKey: GATEWAY_PK, deviceName: `fgw-${pad(g + 1, 4)}` },
    subs: Array.from({ length: o.subDevices }, (_, s) => {
      const product = products[s % products.length] as FleetProduct;
      return { id: { productKey: product.productKey, deviceName: `g${pad(g + 1, 4)}-s${pad(s + 1, 5)}` }, product };
    }),
  }));
  return { products, gateways };
}

export async function startWorld(o: WorldOptions): Promise<World> {
  if (o.broker === 'external' && !o.brokerUrl) throw new Error('--broker external needs --broker-url mqtt://host:port');
  const { products, gateways } = fleetLayout(o);
  const devices = gateways.flatMap((g) => [g.id, ...g.subs.map((s) => s.id)]).map((d) => ({ ...d, deviceSecret: FLEET_SECRET }));
  const limit = Math.max(2000, o.subDevices);
  const sim = new CloudSimulator(
    {
      accessKeys: [{ id: 'testAK', secret: 'testSecret' }],
      products: [{ productKey: GATEWAY_PK, tsl: GATEWAY_TSL, nodeType: 'gateway' }, ...products.map((p) => ({ productKey: p.productKey, tsl: p.tsl, nodeType: 'sub' as const }))],
      devices,
      // The agents validate; the cloud's own check would answer first and hide theirs.
      cloudValidation: false,
      mqtt: o.broker === 'external' ? { mode: 'external', url: o.brokerUrl } : { mode: o.broker, serviceClients: o.serviceClients ?? [] },
      // The cloud side's sets are the load: the default API QPS limits would throttle them, not the agents.
      limits: { qps: { SetDeviceProperty: 100_000 }, replyHistory: 10_000 },
      gateway: { maxSubDevices: limit, maxOnlineSubDevices: limit },
      log: { level: 'silent' },
    },
    { logger: pino({ level: 'silent' }) },
  );
  const urls = await sim.start();
  // Each listener of the report watches every device: more than Node's default of 10 per event.
  sim.setMaxListeners(0);
  return {
    sim,
    iot: createIotClient(urls.httpUrl, { readTimeout: 10_000, connectTimeout: 10_000 }),
    mqttUrl: o.broker === 'external' ? (o.brokerUrl as string) : urls.mqttUrl,
    protocolVersion: o.broker === 'embedded' ? 4 : 5,
    products,
    gateways,
    stop: () => sim.stop(),
  };
}
