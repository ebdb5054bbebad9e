/**
 * What the end-to-end tests share: the cloud simulator with the example product, agents built from config
 * objects with test plugins, and the official cloud SDK pointed at the simulator.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { Agent, AgentOptions } from '../agent/agent';
import type { AgentConfigInput } from '../agent/config/schema';
import { definePlugin, HandlerError } from '../handlers/api';
import type { PluginConfig } from '../agent/plugins/loader';
import { CloudSimulator, type CloudSimulatorOptions } from '../simulator/cloud-simulator';
import type { SimulatorConfigInput } from '../simulator/config/schema';
import { captureLog, CapturedLog, DEVICE, sleep } from './agent-support';

export const TSL_PATH = resolve(__dirname, '..', 'simulator', 'tsl', 'example-gateway.json');
export const ID = { productKey: DEVICE.productKey, deviceName: DEVICE.deviceName };

/** The simulator with gw-001..gw-00N, the cloud's own TSL check off so the agent's validation answers. */
export async function startSimulator(overrides: Partial<SimulatorConfigInput> = {}, devices = 2, options: CloudSimulatorOptions = {}): Promise<{ sim: CloudSimulator; httpUrl: string; mqttUrl: string }> {
  const sim = new CloudSimulator(
    {
      accessKeys: [{ id: 'testAK', secret: 'testSecret' }],
      products: [{ productKey: DEVICE.productKey, tsl: TSL_PATH }],
      devices: Array.from({ length: devices }, (_, i) => ({ productKey: DEVICE.productKey, deviceName: `gw-00${i + 1}`, deviceSecret: DEVICE.secret })),
      cloudValidation: false,
      log: { level: 'silent' },
      ...overrides,
    },
    { logger: pino({ level: 'silent' }), ...options },
  );
  const urls = await sim.start();
  return { sim, ...urls };
}

/** Calls the test plugin saw, for assertions. */
export interface Calls {
  /** Reboot calls as they begin, and as they finish. */
  rebootStarted: unknown[];
  reboot: unknown[];
  custom: { topic: string; payload: string }[];
}

/**
 * The test plugin: Calibrate (sync), Reboot (async), ExportLogs (throws), raw RRPC (echo, or slow on "slow"),
 * custom topic `get` (answers on the MQTT 5 response topic).
 */
export function testPlugin(calls: Calls): PluginConfig {
  return {
    module: 'e2e-test-plugin',
    plugin: definePlugin({
      name: 'e2e',
      setup: () => ({
        services: {
          Calibrate: (input: Record<string, unknown>) => ({ Success: 1, Offset: 0.5, CalibratedAt: '1700000000000', Message: `calibrated sensor ${String(input.Sensor)}` }),
          Reboot: async (input: Record<string, unknown>) => {
            calls.rebootStarted.push(input);
            // 299 s asks for a slow handler: the shutdown test stops the agent while it runs.
            if (input.DelaySeconds === 299) await sleep(600);
            calls.reboot.push(input);
          },
          ExportLogs: () => {
            throw new HandlerError('log store unavailable', 100_042);
          },
          ReadChannels: () => {
            throw new Error('the plugin crashed');
          },
        },
        rrpc: {
          raw: async (req, call) => {
            const text = req.payload.toString();
            if (text === 'slow') await sleep(call.deadline - Date.now() + 3000);
            return `pong:${text}`;
          },
        },
        customTopics: {
          get: (msg) => {
            calls.custom.push({ topic: msg.topic, payload: msg.payload.toString() });
            return { payload: `answer:${msg.payload.toString()}` };
          },
        },
      }),
    }),
  };
}

/** An agent for `deviceName` on `url`, with the test plugin and a captured log. */
export interface TestAgent {
  agent: Agent;
  log: CapturedLog;
  calls: Calls;
  dataDir: string;
  cleanup(): Promise<void>;
}

export async function makeAgent(url: string, config: Partial<AgentConfigInput> = {}, opts: AgentOptions & { deviceName?: string } = {}): Promise<TestAgent> {
  const dataDir = mkdtempSync(join(tmpdir(), 'agent-e2e-'));
  const log = captureLog('debug');
  const calls: Calls = { rebootStarted: [], reboot: [], custom: [] };
  const { deviceName, ...agentOpts } = opts;
  const agent = await Agent.create(
    {
      device: { productKey: DEVICE.productKey, deviceName: deviceName ?? DEVICE.deviceName, secret: DEVICE.secret },
      broker: { url, reconnect: { initialMs: 200, maxMs: 2000, stableMs: 2000 }, connectTimeoutMs: 3000 },
      thingModel: { path: TSL_PATH },
      dataDir,
      rrpc: { budgetMs: 1500 },
      ...config,
    } as AgentConfigInput,
    { logger: log.logger, plugins: [testPlugin(calls)], ...agentOpts },
  );
  return {
    agent,
    log,
    calls,
    dataDir,
    cleanup: async () => {
      await agent.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The gateway's TSL and the sub-device product the gateway tests use (docs/protocol/gateway.md). */
export const GATEWAY_TSL = TSL_PATH;
export const SUB_PRODUCT = { productKey: 'a1SubDemo01', tsl: resolve(__dirname, '..', 'simulator', 'tsl', 'example-sensor.json'), secret: '9c1f4e2a7b3d4c5e8f60718293a4b5c6' };

/** The simulator with gw-001 as a gateway and `names` as sub-devices of one product (the sensor one by default). */
export function startGatewaySimulator(
  mode: 'embedded' | 'managed',
  names: readonly string[],
  sub: { productKey?: string; tsl?: string; secret?: string; dynamicRegistration?: boolean } = {},
): Promise<{ sim: CloudSimulator; httpUrl: string; mqttUrl: string }> {
  const productKey = sub.productKey ?? SUB_PRODUCT.productKey;
  return startSimulator(
    {
      mqtt: { mode },
      products: [
        { productKey: ID.productKey, tsl: GATEWAY_TSL, nodeType: 'gateway' },
        { productKey, tsl: sub.tsl ?? SUB_PRODUCT.tsl, nodeType: 'sub', ...(sub.dynamicRegistration ? { dynamicRegistration: true } : {}) },
      ],
      devices: [{ ...ID, deviceSecret: DEVICE.secret }, ...names.map((deviceName) => ({ productKey, deviceName, deviceSecret: sub.secret ?? SUB_PRODUCT.secret }))],
    } as Partial<SimulatorConfigInput>,
    1,
  );
}
