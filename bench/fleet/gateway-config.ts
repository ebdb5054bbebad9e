/**
 * The configuration of one fleet gateway, the same for an in-process `Agent` and for the CLI in a child process:
 * the gateway device, its broker, every sub-device with its product's Thing Model, sets answered after they are
 * durable (the default stores), and a reconnect backoff short enough for a reconnect storm to end within a run.
 */
import type { AgentConfigInput } from '../../agent/config/schema';
import { FLEET_SECRET, GATEWAY_TSL, type FleetGateway, type World } from './world';

export interface GatewayConfigOptions {
  dataDir: string;
  /** The agents' log level (warn by default: info logs nothing per message, debug logs every sub-device's steps). */
  logLevel: string;
  /** Ceiling of the reconnect backoff (the first retry waits up to a tenth of it). */
  reconnectMaxMs: number;
}

export function gatewayConfig(world: Pick<World, 'mqttUrl' | 'protocolVersion' | 'products'>, gw: FleetGateway, o: GatewayConfigOptions): AgentConfigInput {
  return {
    device: { ...gw.id, secret: FLEET_SECRET },
    broker: {
      url: world.mqttUrl,
      protocolVersion: world.protocolVersion,
      reconnect: { initialMs: Math.max(100, Math.floor(o.reconnectMaxMs / 10)), maxMs: o.reconnectMaxMs, stableMs: 2000 },
      connectTimeoutMs: 5000,
    },
    thingModel: { path: GATEWAY_TSL },
    dataDir: o.dataDir,
    log: { level: o.logLevel as 'warn' },
    // Posts are the fleet's load; a post after every set would double the sets' traffic.
    postAfterSet: { enabled: false },
    gateway: {
      retry: { initialMs: 200, maxMs: 2000 },
      products: Object.fromEntries(world.products.map((p) => [p.productKey, { path: p.tsl }])),
    },
    subDevices: gw.subs.map((s) => ({ ...s.id, secret: FLEET_SECRET })),
  };
}
