/**
 * `npm start`: starts the simulator with its default config and the real agent as its device (with the example
 * plugin, handlers/examples/calibration.ts), calls each seed API through the official SDK, prints what came back,
 * and exits 0 (1 if a call did not go as expected).
 *
 * The device is pluggable: `runDemo({ startDevice })` takes any function that connects a device and returns
 * `{ stop() }`; `startDemoDevice` (demo-device.ts, raw MQTT.js with canned answers) is the other one.
 *
 * The one place that composes the simulator and the agent, so it lives outside both: simulator/ never imports
 * the agent, and this file imports only the agent's public entry (agent/agent.ts); the example plugin is loaded
 * by path, as an agent configuration names it.
 */
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as $Iot from '@alicloud/iot20180120';
import pino from 'pino';
import { Agent, type AgentOptions } from '../agent/agent';
import { preferManagedBroker } from '../simulator/broker-choice';
import { CloudSimulator } from '../simulator/cloud-simulator';
import { loadConfigFile } from '../simulator/config/load';
import { DemoDeviceInfo, RunningDevice, startDemoDevice } from './demo-device';
import type { SimulatorEvents } from '../simulator/events';
import { createLogger } from '../simulator/logger';
import { createIotClient, longCallRuntime } from '../simulator/sdk-client';
import { runOtaStep } from './ota-step';
import { runGatewayStep } from './gateway-step';

export { startDemoDevice };

export interface DemoOptions {
  /** Connects the demo's device; default `startDemoAgent`. */
  startDevice?: (info: DemoDeviceInfo) => Promise<RunningDevice>;
  configPath?: string;
  print?: (line: string) => void;
}

/** Run from source the simulator's config is one folder up; run from dist/demo/demo.js, two (it is not copied to dist/). */
const CONFIG_CANDIDATES = [join(__dirname, '..', 'simulator', 'simulator.config.json'), join(__dirname, '..', '..', 'simulator', 'simulator.config.json')];
/** handlers/examples/calibration, from source (ts-jest) or from dist/ alike: the extension is left to require. */
const EXAMPLE_PLUGIN = join(__dirname, '..', 'handlers', 'examples', 'calibration');
/** handlers/examples/meter-driver: the gateway's driver for the meters behind it. */
const METER_DRIVER = join(__dirname, '..', 'handlers', 'examples', 'meter-driver');
/** One "second" of the example plugin's SettleSeconds and DelaySeconds, shortened so the demo runs in seconds. */
const DEMO_MS_PER_SECOND = 100;

function configPath(): string {
  return CONFIG_CANDIDATES.find((p) => existsSync(p)) ?? (CONFIG_CANDIDATES[0] as string);
}

type PluginEntry = NonNullable<AgentOptions['plugins']>[number];

/**
 * Answers raw RRPC (a payload that is not an Alink service call): `{"op":"ping"}` gets `{"op":"pong"}`. The
 * example plugin has no raw handler; a plugin is a plain value, so the demo needs nothing from handlers/ for it.
 */
const pingPlugin: PluginEntry = {
  module: 'demo-ping',
  plugin: {
    name: 'demo-ping',
    setup: () => ({
      rrpc: {
        raw: (req: { payload: Buffer }) => {
          let op: unknown;
          try {
            op = (JSON.parse(req.payload.toString('utf8')) as { op?: unknown }).op;
          } catch {
            op = undefined;
          }
          return JSON.stringify(op === 'ping' ? { op: 'pong', at: Date.now() } : { error: 'expected {"op":"ping"}' });
        },
      },
    }),
  },
};

/**
 * The real agent as the demo's device: the simulator's device and TSL, a temporary data directory (removed on
 * stop), the example plugin for the services and custom topics, the property store for the rest. Its log
 * (warnings and errors only) goes to stderr, so the demo's own lines stay readable on stdout.
 */
export async function startDemoAgent(info: DemoDeviceInfo): Promise<RunningDevice> {
  const meters = info.subDevices ?? [];
  const dataDir = mkdtempSync(join(tmpdir(), 'alink-demo-'));
  let agent: Agent | undefined;
  try {
    agent = await Agent.create(
      {
        device: { productKey: info.productKey, deviceName: info.deviceName, secret: info.deviceSecret },
        broker: { url: info.mqttUrl },
        thingModel: { path: info.tslPath },
        dataDir,
        handlers: [
          { module: EXAMPLE_PLUGIN, options: { msPerSecond: DEMO_MS_PER_SECOND } },
          ...(meters.length > 0 && info.subProduct
            ? [
                {
                  module: METER_DRIVER,
                  options: {
                    productKey: info.subProduct.productKey,
                    msPerSecond: DEMO_MS_PER_SECOND,
                    meters: meters.map((m, i) => ({ deviceName: m.deviceName, address: i + 1, deviceSecret: m.deviceSecret, energyKWh: 1250.5 + i * 100, powerW: 1200 })),
                  },
                },
              ]
            : []),
        ],
        ...(info.subProduct ? { gateway: { products: { [info.subProduct.productKey]: { path: info.subProduct.tslPath } } } } : {}),
      },
      { logger: pino({ name: 'alink-agent', level: 'warn' }, pino.destination(2)), plugins: [pingPlugin] },
    );
    await agent.start();
  } catch (err) {
    await agent?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const running = agent;
  return {
    ...(meters.length > 0 && info.subProduct ? { gateway: { subProductKey: info.subProduct.productKey, subDevices: meters.map((m) => m.deviceName) } } : {}),
    stop: async () => {
      await running.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The first `event` the simulator emits that `match` accepts, or undefined after `timeoutMs`. */
function nextEvent<K extends 'propertyPost' | 'eventPost' | 'deviceMessage'>(
  sim: CloudSimulator,
  event: K,
  match: (e: SimulatorEvents[K][0]) => boolean,
  timeoutMs: number,
): Promise<SimulatorEvents[K][0] | undefined> {
  return new Promise((resolve) => {
    const on = (e: SimulatorEvents[K][0]) => {
      if (!match(e)) return;
      done(e);
    };
    const done = (e: SimulatorEvents[K][0] | undefined) => {
      clearTimeout(timer);
      (sim.off as (e: K, f: typeof on) => void)(event, on);
      resolve(e);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    (sim.on as (e: K, f: typeof on) => void)(event, on);
  });
}

/** Returns the number of calls whose outcome was not the expected one. */
export async function runDemo(opts: DemoOptions = {}): Promise<number> {
  const print = opts.print ?? ((l: string) => console.log(l));
  const { config, description } = preferManagedBroker(loadConfigFile(opts.configPath ?? configPath()));
  const sim = new CloudSimulator(config, { logger: createLogger('warn') });
  const { httpUrl, mqttUrl } = await sim.start();
  print(`simulator: HTTP API ${httpUrl}, MQTT ${mqttUrl} on ${description}`);
  const devCfg = config.devices[0];
  if (!devCfg) throw new Error('the demo config has no device');
  const product = config.products.find((p) => (p.productKey ?? devCfg.productKey) === devCfg.productKey) ?? config.products[0]!;
  const id = { productKey: devCfg.productKey, deviceName: devCfg.deviceName };
  let failures = 0;
  let device: RunningDevice | undefined;
  try {
    const online = new Promise<void>((resolve) => {
      const on = (d: { productKey: string; deviceName: string }) => {
        if (d.productKey === id.productKey && d.deviceName === id.deviceName) {
          sim.off('deviceOnline', on);
          resolve();
        }
      };
      sim.on('deviceOnline', on);
    });
    // The sub-device product and its devices, when the config has them: the gateway step's meters.
    const subProduct = config.products.find((p) => p.nodeType === 'sub');
    const subDevices = subProduct ? config.devices.filter((d) => d.productKey === subProduct.productKey).map((d) => ({ deviceName: d.deviceName, deviceSecret: d.deviceSecret })) : [];
    device = await (opts.startDevice ?? startDemoAgent)({
      mqttUrl,
      ...devCfg,
      tslPath: product.tsl,
      ...(subProduct?.productKey ? { subProduct: { productKey: subProduct.productKey, tslPath: subProduct.tsl }, subDevices } : {}),
    });
    await online;
    print(`device ${id.productKey}/${id.deviceName}: ${sim.deviceStatus(id.productKey, id.deviceName).status}`);

    const client = createIotClient(httpUrl, { accessKeyId: config.accessKeys[0]!.id, accessKeySecret: config.accessKeys[0]!.secret });
    const show = (name: string, body: unknown, ok: boolean) => {
      if (!ok) failures++;
      print(`${ok ? 'ok  ' : 'FAIL'} ${name} → ${JSON.stringify(body)}`);
    };
    const base = { productKey: id.productKey, deviceName: id.deviceName };
    const mine = (e: { productKey?: string; deviceName?: string }) => e.productKey === id.productKey && e.deviceName === id.deviceName;

    // The device posts the values it accepted, so that the cloud's shadow is current (docs/protocol/payloads.md, "Property set and its reply").
    const posted = nextEvent(sim, 'propertyPost', (e) => mine(e) && hasValues(e.params, { ReportInterval: 60, WorkMode: 1 }), 5000);
    const set = await client.setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...base, items: JSON.stringify({ ReportInterval: 60, WorkMode: 1 }) }));
    show('SetDeviceProperty {ReportInterval:60, WorkMode:1}', set.body, set.body.success === true);
    const setReply = await sim.waitForDeviceReply(id, (r) => r.kind === 'propertySetReply' && r.id === set.body.data?.messageId, 5000);
    show('  device set_reply', { id: setReply.id, code: setReply.code }, setReply.code === 200);
    const post = await posted;
    show('  device property post of the new values', post ? { id: post.id, params: post.params, code: post.code } : 'none within 5 s', post?.code === 200);

    const ro = await client.setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...base, items: JSON.stringify({ Temperature: 21.5 }) }));
    show('SetDeviceProperty {Temperature:21.5} (read-only)', ro.body, ro.body.success === false && ro.body.code === 'iot.thing.PropertyReadOnly');

    // A reboot ends with the device reporting BootCompleted (the example plugin after DelaySeconds, shortened).
    const booted = nextEvent(sim, 'eventPost', (e) => mine(e) && e.eventId === 'BootCompleted', 5000);
    const reboot = await client.invokeThingService(new $Iot.InvokeThingServiceRequest({ ...base, identifier: 'Reboot', args: JSON.stringify({ DelaySeconds: 1 }) }));
    show('InvokeThingService Reboot (async)', reboot.body, reboot.body.success === true);
    const rebootReply = await sim.waitForDeviceReply(id, (r) => r.kind === 'serviceReply' && r.id === reboot.body.data?.messageId, 5000);
    show('  device Reboot_reply', { id: rebootReply.id, code: rebootReply.code }, rebootReply.code === 200);

    const cal = await client.invokeThingServiceWithOptions(
      new $Iot.InvokeThingServiceRequest({ ...base, identifier: 'Calibrate', args: JSON.stringify({ Sensor: 0, ReferenceValue: 25.0, SettleSeconds: 1 }) }),
      longCallRuntime(),
    );
    show('InvokeThingService Calibrate (sync)', cal.body, cal.body.success === true && typeof cal.body.data?.result === 'string');
    if (typeof cal.body.data?.result === 'string') print(`  service output: ${cal.body.data.result}`);
    const boot = await booted;
    show('  device event BootCompleted after the reboot', boot ? { id: boot.id, params: boot.params, code: boot.code } : 'none within 5 s', boot?.code === 200);

    const many = await client.invokeThingsService(
      new $Iot.InvokeThingsServiceRequest({ productKey: id.productKey, deviceName: [id.deviceName], identifier: 'Reboot', args: JSON.stringify({ DelaySeconds: 1 }) }),
    );
    show('InvokeThingsService Reboot', many.body, many.body.success === true);

    const rr = await client.rRpcWithOptions(
      new $Iot.RRpcRequest({ ...base, requestBase64Byte: Buffer.from('{"op":"ping"}').toString('base64'), timeout: 5000 }),
      longCallRuntime(),
    );
    const answer = rr.body.payloadBase64Byte ? Buffer.from(rr.body.payloadBase64Byte, 'base64').toString('utf8') : '';
    show('RRpc {"op":"ping"} (raw)', rr.body, rr.body.rrpcCode === 'SUCCESS' && answer !== '');
    if (answer) print(`  device answered: ${answer}`);

    // The example plugin answers `/user/echo` on `/user/echo/reply` under MQTT 3.1.1 (no Response Topic).
    const echoTopic = `/${id.productKey}/${id.deviceName}/user/echo`;
    const content = '{"cmd":"on","level":3}';
    const delivered = nextEvent(sim, 'deviceMessage', (m) => m.topic === `${echoTopic}/reply`, 5000);
    const pub = await client.pub(new $Iot.PubRequest({ productKey: id.productKey, topicFullName: echoTopic, messageContent: Buffer.from(content).toString('base64'), qos: 1 }));
    show('Pub /user/echo', pub.body, pub.body.success === true && typeof pub.body.messageId === 'string');
    const echoed = await delivered;
    show('  device answer on /user/echo/reply', echoed ? echoed.payload.toString('utf8') : 'none within 5 s', echoed?.payload.toString('utf8') === content);

    const props = await client.queryDevicePropertyStatus(new $Iot.QueryDevicePropertyStatusRequest(base));
    const reported = (props.body.data?.list?.propertyStatusInfo ?? []).filter((p) => p.value !== undefined);
    show(
      'QueryDevicePropertyStatus (reported ones)',
      reported.map((p) => `${p.identifier}=${p.value}`),
      reported.some((p) => p.identifier === 'ReportInterval' && p.value === '60') && reported.some((p) => p.identifier === 'WorkMode' && p.value === '1'),
    );

    if (device.gateway) await runGatewayStep({ client, sim, gateway: base, ...device.gateway, print, show });
    else print('skip gateway: this device speaks for no sub-devices');

    // OTA: a package and a job through the SDK, followed until the device informs the new version.
    if (device.ota) await runOtaStep({ client, ...base, print, show });
    else print('skip OTA update: this device has no OTA client');
  } finally {
    await device?.stop().catch(() => undefined);
    await sim.stop();
  }
  print(failures === 0 ? 'demo: every call answered as expected' : `demo: ${failures} call(s) did not answer as expected`);
  return failures;
}

/** True when `params` (a property post's) holds each of `want`, bare or as `{value, time}`. */
function hasValues(params: unknown, want: Record<string, unknown>): boolean {
  if (params === null || typeof params !== 'object') return false;
  const p = params as Record<string, unknown>;
  return Object.entries(want).every(([k, v]) => {
    const x = p[k];
    return x === v || (x !== null && typeof x === 'object' && (x as { value?: unknown }).value === v);
  });
}

if (require.main === module) {
  runDemo().then(
    (failures) => process.exit(failures === 0 ? 0 : 1),
    (e: Error) => {
      console.error(`demo failed: ${e.stack ?? e.message}`);
      process.exit(1);
    },
  );
}
