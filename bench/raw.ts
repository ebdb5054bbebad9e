/**
 * Parse-script benchmark (not a test): what the sandbox costs (docs/protocol/raw-data.md, "The simulator's sandbox").
 *
 * 1. Simulator round trips: SetDeviceProperty on a custom-format product through the official SDK, the script's
 *    bytes to an MQTT.js device on the embedded broker, its reply bytes back through the script, until the reply
 *    is recorded. Once with the scripts in their sandbox (worker thread + vm), once with the same script compiled
 *    as plain functions on the simulator's own thread. Ratio = sandboxed / plain; goal >= 0.5.
 * 2. The conversions alone (protocolToRawData + rawDataToProtocol of the same request and reply), sandboxed vs
 *    plain calls, to show the per-call cost the round trip hides.
 * Run: `npm run bench:raw`.
 */
import * as $Iot from '@alicloud/iot20180120';
import { connectAsync } from 'mqtt';
import pino from 'pino';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CloudSimulator } from '../simulator/cloud-simulator';
import { createIotClient } from '../simulator/sdk-client';
import { ScriptSandbox, type ScriptFunction, type ScriptResult } from '../simulator/scripts/sandbox';
import type { ScriptRunner } from '../simulator/scripts/store';
import { AlinkCodes } from '../thing-model';
import { buildCredentials, channelTopics } from '../thing-model/wire';
import { decodeFrame, RAW_SCRIPT, replyFrame } from './raw-script';
import { median } from './stats';

const TSL = [join(__dirname, '..', '..', 'simulator', 'tsl', 'example-gateway.json'), join(__dirname, '..', 'simulator', 'tsl', 'example-gateway.json')].find((p) => existsSync(p)) as string;
const PK = 'a1RawBench1';
const DN = 'raw-bench';
const SECRET = '3f6c0a9d27b84e1c95d2a7e41b08c6f3';
const ROUND_TRIPS = 1500;
const IN_FLIGHT = 16;
const CALLS = 20_000;

type Fns = Record<ScriptFunction, (...a: unknown[]) => unknown>;

/** The same script as plain functions on this thread: the baseline, no bounds at all. */
function plainFunctions(code: string): Fns {
  return new Function(`${code}\nreturn { rawDataToProtocol, protocolToRawData, transformPayload };`)() as Fns;
}

function plainRunner(code: string): ScriptRunner {
  const fns = plainFunctions(code);
  return {
    load: async () => ({ ok: true, value: Object.keys(fns) }),
    close: async () => undefined,
    async call<T>(fn: ScriptFunction, arg: unknown, topic?: string): Promise<ScriptResult<T>> {
      try {
        if (fn === 'protocolToRawData') return { ok: true, value: Uint8Array.from(fns[fn](arg) as number[]) as T };
        const bytes = Array.from(new Int8Array(arg as Buffer));
        return { ok: true, value: (fn === 'rawDataToProtocol' ? fns[fn](bytes) : fns[fn](topic, bytes)) as T };
      } catch (e) {
        return { ok: false, code: AlinkCodes.SCRIPT_ERROR, message: (e as Error).message };
      }
    },
  };
}

async function roundTrips(runner: 'sandbox' | 'plain'): Promise<number> {
  const sim = new CloudSimulator(
    {
      accessKeys: [{ id: 'benchAK', secret: 'benchSecret' }],
      products: [{ productKey: PK, tsl: TSL, dataFormat: 'custom' }],
      devices: [{ productKey: PK, deviceName: DN, deviceSecret: SECRET }],
      cloudValidation: false,
      limits: { qps: { SetDeviceProperty: 1_000_000 } },
      log: { level: 'silent' },
    },
    { logger: pino({ level: 'silent' }), ...(runner === 'plain' ? { scripts: { runner: plainRunner } } : {}) },
  );
  sim.setMaxListeners(IN_FLIGHT + 8); // one deviceReply listener per waiting call
  const { httpUrl, mqttUrl } = await sim.start();
  const iot = createIotClient(httpUrl, { accessKeyId: 'benchAK', accessKeySecret: 'benchSecret' });
  const device = await connectAsync(mqttUrl, { ...buildCredentials({ productKey: PK, deviceName: DN, deviceSecret: SECRET, signMethod: 'hmacsha1', secureMode: 3, timestamp: Date.now() }), reconnectPeriod: 0 });
  const topics = channelTopics({ productKey: PK, deviceName: DN });
  try {
    await iot.createThingScript(new $Iot.CreateThingScriptRequest({ productKey: PK, scriptType: 'JavaScript', scriptContent: RAW_SCRIPT }));
    device.on('message', (_t, payload) => void device.publishAsync(topics.downRawReply, replyFrame(decodeFrame(payload).id, 200), { qos: 0 }));
    await device.subscribeAsync(topics.downRaw, { qos: 0 });
    const one = async () => {
      const res = await iot.setDeviceProperty(new $Iot.SetDevicePropertyRequest({ productKey: PK, deviceName: DN, items: JSON.stringify({ ReportInterval: 60, WorkMode: 1, TempAlarmThreshold: 21.5 }) }));
      const id = res.body.data?.messageId;
      if (!id) throw new Error(`SetDeviceProperty failed: ${res.body.errorMessage}`);
      const reply = await sim.waitForDeviceReply({ productKey: PK, deviceName: DN }, (r) => r.id === id, 10_000);
      if (reply.code !== 200) throw new Error(`reply code ${reply.code}`);
    };
    for (let i = 0; i < 100; i++) await one(); // warm-up
    let left = ROUND_TRIPS;
    const started = performance.now();
    await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
      while (left-- > 0) await one();
    }));
    return ROUND_TRIPS / ((performance.now() - started) / 1000);
  } finally {
    await device.endAsync(true);
    await sim.stop();
  }
}

async function conversions(runner: ScriptRunner): Promise<number> {
  const req = { id: '123', version: '1.0', method: 'thing.service.property.set', params: { ReportInterval: 60, WorkMode: 1, TempAlarmThreshold: 21.5 } };
  const reply = replyFrame(123, 200);
  const pair = async () => {
    const a = await runner.call('protocolToRawData', req);
    const b = await runner.call('rawDataToProtocol', reply);
    if (!a.ok || !b.ok) throw new Error('conversion failed');
  };
  for (let i = 0; i < 500; i++) await pair();
  let left = CALLS;
  const started = performance.now();
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (left-- > 0) await pair();
  }));
  return CALLS / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  const sandboxed: number[] = [];
  const plain: number[] = [];
  for (let run = 0; run < 3; run++) {
    plain.push(await roundTrips('plain'));
    sandboxed.push(await roundTrips('sandbox'));
  }
  const rt = { sandboxed: median(sandboxed), plain: median(plain) };
  console.log(`simulator round trips (SetDeviceProperty -> bytes -> device -> bytes -> reply), ${IN_FLIGHT} in flight, median of 3:`);
  console.log(`  sandboxed script: ${rt.sandboxed.toFixed(0)}/s   plain functions: ${rt.plain.toFixed(0)}/s   ratio ${(rt.sandboxed / rt.plain).toFixed(2)} (goal >= 0.5)`);

  const sandbox = new ScriptSandbox(RAW_SCRIPT);
  const base = plainRunner(RAW_SCRIPT);
  const cs: number[] = [];
  const cp: number[] = [];
  try {
    for (let run = 0; run < 3; run++) {
      cp.push(await conversions(base));
      cs.push(await conversions(sandbox));
    }
  } finally {
    await sandbox.close();
  }
  const c = { sandboxed: median(cs), plain: median(cp) };
  console.log('the conversions alone (protocolToRawData + rawDataToProtocol), 64 in flight, median of 3:');
  console.log(`  sandboxed: ${c.sandboxed.toFixed(0)} pairs/s   plain calls: ${c.plain.toFixed(0)} pairs/s   ratio ${(c.sandboxed / c.plain).toFixed(3)} (informational: one message each way per call)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
