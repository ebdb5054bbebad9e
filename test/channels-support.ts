/**
 * What the device-channel end-to-end tests share (raw data, remote configuration, tags, log upload): a simulator on
 * either broker (embedded aedes, MQTT 3.1.1; managed mosquitto, MQTT 5) with the example product and the same TSL
 * as a custom-format product, and agents for either with extra plugins.
 */
import pino from 'pino';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../agent/agent';
import type { AgentConfigInput } from '../agent/config/schema';
import type { PluginConfig } from '../agent/plugins/loader';
import { CloudSimulator, type CloudSimulatorOptions } from '../simulator/cloud-simulator';
import { createIotClient } from '../simulator/sdk-client';
import { captureLog, CapturedLog, DEVICE } from './agent-support';
import { TSL_PATH } from './agent-e2e-support';

export const RAW_PK = 'a1RawDemo01';
export type BrokerMode = 'embedded' | 'managed';
export const MODES: BrokerMode[] = ['embedded', 'managed'];

export interface ChannelSim {
  sim: CloudSimulator;
  httpUrl: string;
  mqttUrl: string;
  iot: ReturnType<typeof createIotClient>;
  mode: BrokerMode;
}

export async function startChannelSim(mode: BrokerMode, options: CloudSimulatorOptions = {}): Promise<ChannelSim> {
  const sim = new CloudSimulator(
    {
      mqtt: { mode },
      accessKeys: [{ id: 'testAK', secret: 'testSecret' }],
      products: [
        { productKey: DEVICE.productKey, tsl: TSL_PATH },
        { productKey: RAW_PK, tsl: TSL_PATH, dataFormat: 'custom' },
      ],
      devices: [
        { productKey: DEVICE.productKey, deviceName: 'gw-001', deviceSecret: DEVICE.secret },
        { productKey: DEVICE.productKey, deviceName: 'gw-002', deviceSecret: DEVICE.secret },
        { productKey: RAW_PK, deviceName: 'raw-001', deviceSecret: DEVICE.secret },
      ],
      cloudValidation: false,
      log: { level: 'silent' },
    },
    { logger: pino({ level: 'silent' }), ...options },
  );
  const urls = await sim.start();
  return { sim, ...urls, iot: createIotClient(urls.httpUrl), mode };
}

export interface ChannelAgent {
  agent: Agent;
  log: CapturedLog;
  dataDir: string;
  cleanup(): Promise<void>;
}

/** A started agent for `productKey/deviceName` on the simulator's broker (MQTT 5 on the managed one). */
export async function startChannelAgent(
  s: ChannelSim,
  device: { productKey: string; deviceName: string },
  plugins: PluginConfig[],
  config: Partial<AgentConfigInput> = {},
): Promise<ChannelAgent> {
  const dataDir = mkdtempSync(join(tmpdir(), 'agent-ch-'));
  const log = captureLog('debug');
  const agent = await Agent.create(
    {
      device: { ...device, secret: DEVICE.secret },
      broker: { url: s.mqttUrl, protocolVersion: s.mode === 'managed' ? 5 : 4, reconnect: { initialMs: 200, maxMs: 2000, stableMs: 2000 }, connectTimeoutMs: 5000 },
      thingModel: { path: TSL_PATH },
      dataDir,
      rrpc: { budgetMs: 3000 },
      ...config,
    } as AgentConfigInput,
    { logger: log.logger, plugins },
  );
  const ready = new Promise<{ connected: boolean }>((r) => agent.once('ready', r));
  await agent.start();
  if (!(await ready).connected) throw new Error('the agent did not connect');
  return {
    agent,
    log,
    dataDir,
    cleanup: async () => {
      await agent.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
