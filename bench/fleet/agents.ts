/**
 * The fleet's in-process gateways: each a real `Agent` (its own SQLite file, MQTT connection, sub-device sessions)
 * in this one process, which the agent allows because it has no global state. Each gets a driver plugin that owns
 * every sub-device product and applies property sets (counted) once they are durable in its `ctx.state`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Agent } from '../../agent/agent';
import { createAgentLogger } from '../../agent/config/logger';
import { fleetDriver } from './driver';
import { gatewayConfig, type GatewayConfigOptions } from './gateway-config';
import type { FleetGateway, World } from './world';

export interface InProcessGateway {
  gw: FleetGateway;
  agent: Agent;
  /** Property sets the driver applied. */
  applied(): number;
  /** Sub-devices online, as the agent counts them. */
  online(): number;
  stop(): Promise<void>;
}

export async function startInProcessGateway(world: Pick<World, 'mqttUrl' | 'protocolVersion' | 'products'>, gw: FleetGateway, o: Omit<GatewayConfigOptions, 'dataDir'>): Promise<InProcessGateway> {
  const dataDir = mkdtempSync(join(tmpdir(), 'fleet-gw-'));
  let applied = 0;
  const plugin = fleetDriver(
    world.products.map((p) => p.productKey),
    world.products.map((p) => p.setProperty),
    () => applied++,
  );
  const agent = await Agent.create(gatewayConfig(world, gw, { ...o, dataDir }), {
    logger: createAgentLogger({ level: o.logLevel as 'warn' }, pino.destination(2)),
    plugins: [{ module: 'fleet-driver', plugin }],
  });
  await agent.start();
  return {
    gw,
    agent,
    applied: () => applied,
    online: () => agent.gateway.counts().online,
    stop: async () => {
      await agent.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
