/**
 * `npm start`: starts the simulator with its default config and one device, calls each seed API through the
 * official SDK, prints what came back, and exits 0 (1 if a call did not go as expected).
 *
 * The device is pluggable: `runDemo({ startDevice })` takes any function that connects a device and returns
 * `{ stop() }`; the default is the minimal raw-MQTT device in demo-device.ts.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as $Iot from '@alicloud/iot20180120';
import { CloudSimulator } from './cloud-simulator';
import { loadConfigFile } from './config/load';
import { DemoDeviceInfo, RunningDevice, startDemoDevice } from './demo-device';
import { createLogger } from './logger';
import { createIotClient, longCallRuntime } from './sdk-client';

export interface DemoOptions {
  startDevice?: (info: DemoDeviceInfo) => Promise<RunningDevice>;
  configPath?: string;
  print?: (line: string) => void;
}

const DEFAULT_CONFIG = join(__dirname, '..', '..', 'simulator', 'simulator.config.json');

function configPath(): string {
  // Run from dist/simulator/demo.js the config sits in the source tree; run from source, beside this file.
  const beside = join(__dirname, 'simulator.config.json');
  return existsSync(beside) ? beside : DEFAULT_CONFIG;
}

/** Returns the number of calls whose outcome was not the expected one. */
export async function runDemo(opts: DemoOptions = {}): Promise<number> {
  const print = opts.print ?? ((l: string) => console.log(l));
  const config = loadConfigFile(opts.configPath ?? configPath());
  const sim = new CloudSimulator(config, { logger: createLogger('warn') });
  const { httpUrl, mqttUrl } = await sim.start();
  print(`simulator: HTTP API ${httpUrl}, MQTT ${mqttUrl}`);
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
    device = await (opts.startDevice ?? ((i) => startDemoDevice(i, print)))({ mqttUrl, ...devCfg, tslPath: product.tsl });
    await online;
    print(`device ${id.productKey}/${id.deviceName}: ${sim.deviceStatus(id.productKey, id.deviceName).status}`);

    const client = createIotClient(httpUrl, { accessKeyId: config.accessKeys[0]!.id, accessKeySecret: config.accessKeys[0]!.secret });
    const show = (name: string, body: unknown, ok: boolean) => {
      if (!ok) failures++;
      print(`${ok ? 'ok  ' : 'FAIL'} ${name} → ${JSON.stringify(body)}`);
    };
    const base = { productKey: id.productKey, deviceName: id.deviceName };

    const set = await client.setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...base, items: JSON.stringify({ ReportInterval: 60, WorkMode: 1 }) }));
    show('SetDeviceProperty {ReportInterval:60, WorkMode:1}', set.body, set.body.success === true);
    const setReply = await sim.waitForDeviceReply(id, (r) => r.kind === 'propertySetReply' && r.id === set.body.data?.messageId, 5000);
    show('  device set_reply', { id: setReply.id, code: setReply.code }, setReply.code === 200);

    const ro = await client.setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...base, items: JSON.stringify({ Temperature: 21.5 }) }));
    show('SetDeviceProperty {Temperature:21.5} (read-only)', ro.body, ro.body.success === false && ro.body.code === 'iot.thing.PropertyReadOnly');

    const reboot = await client.invokeThingService(new $Iot.InvokeThingServiceRequest({ ...base, identifier: 'Reboot', args: JSON.stringify({ DelaySeconds: 5 }) }));
    show('InvokeThingService Reboot (async)', reboot.body, reboot.body.success === true);
    const rebootReply = await sim.waitForDeviceReply(id, (r) => r.kind === 'serviceReply' && r.id === reboot.body.data?.messageId, 5000);
    show('  device Reboot_reply', { id: rebootReply.id, code: rebootReply.code }, rebootReply.code === 200);

    const cal = await client.invokeThingServiceWithOptions(
      new $Iot.InvokeThingServiceRequest({ ...base, identifier: 'Calibrate', args: JSON.stringify({ Sensor: 0, ReferenceValue: 25.0, SettleSeconds: 1 }) }),
      longCallRuntime(),
    );
    show('InvokeThingService Calibrate (sync)', cal.body, cal.body.success === true && typeof cal.body.data?.result === 'string');

    const many = await client.invokeThingsService(
      new $Iot.InvokeThingsServiceRequest({ productKey: id.productKey, deviceName: [id.deviceName], identifier: 'Reboot', args: JSON.stringify({ DelaySeconds: 1 }) }),
    );
    show('InvokeThingsService Reboot', many.body, many.body.success === true);

    const rr = await client.rRpcWithOptions(
      new $Iot.RRpcRequest({ ...base, requestBase64Byte: Buffer.from('{"op":"ping"}').toString('base64'), timeout: 5000 }),
      longCallRuntime(),
    );
    show('RRpc {"op":"ping"}', rr.body, rr.body.rrpcCode === 'SUCCESS');
    if (rr.body.payloadBase64Byte) print(`  device answered: ${Buffer.from(rr.body.payloadBase64Byte, 'base64').toString('utf8')}`);

    const delivered = new Promise<string>((resolve) => sim.once('downstream', (m) => resolve(m.topic)));
    const pub = await client.pub(
      new $Iot.PubRequest({
        productKey: id.productKey,
        topicFullName: `/${id.productKey}/${id.deviceName}/user/get`,
        messageContent: Buffer.from('{"cmd":"on","level":3}').toString('base64'),
        qos: 1,
      }),
    );
    show('Pub /user/get', pub.body, pub.body.success === true && typeof pub.body.messageId === 'string');
    await delivered;

    const props = await client.queryDevicePropertyStatus(new $Iot.QueryDevicePropertyStatusRequest(base));
    const reported = (props.body.data?.list?.propertyStatusInfo ?? []).filter((p) => p.value !== undefined);
    show('QueryDevicePropertyStatus (reported ones)', reported.map((p) => `${p.identifier}=${p.value}`), reported.length > 0);
  } finally {
    await device?.stop().catch(() => undefined);
    await sim.stop();
  }
  print(failures === 0 ? 'demo: every call answered as expected' : `demo: ${failures} call(s) did not answer as expected`);
  return failures;
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
