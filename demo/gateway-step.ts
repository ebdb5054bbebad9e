/**
 * The demo's gateway step (docs/protocol/gateway.md): the agent speaks for two meters of another product behind it,
 * added by the example meter driver (handlers/examples/meter-driver.ts). Through the official SDK: GetThingTopo lists
 * them, GetDeviceStatus sees them online, a SetDeviceProperty and a sync InvokeThingService reach one of them over the
 * gateway's connection.
 */
import * as $Iot from '@alicloud/iot20180120';
import type Iot from '@alicloud/iot20180120';
import type { CloudSimulator } from '../simulator/cloud-simulator';
import { longCallRuntime } from '../simulator/sdk-client';

export interface GatewayStepContext {
  client: Iot;
  sim: CloudSimulator;
  gateway: { productKey: string; deviceName: string };
  subProductKey: string;
  subDevices: readonly string[];
  print(line: string): void;
  show(name: string, body: unknown, ok: boolean): void;
}

const ONLINE_TIMEOUT_MS = 10_000;

export async function runGatewayStep(c: GatewayStepContext): Promise<void> {
  const deadline = Date.now() + ONLINE_TIMEOUT_MS;
  const status = () => c.subDevices.map((dn) => c.sim.deviceStatus(c.subProductKey, dn).status);
  while (status().some((s) => s !== 'ONLINE') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  c.show(`sub-devices ${c.subDevices.join(', ')} logged in through the gateway`, status(), status().every((s) => s === 'ONLINE'));

  const topo = await c.client.getThingTopo(new $Iot.GetThingTopoRequest({ iotId: undefined, ...c.gateway, pageNo: 1, pageSize: 10 }));
  const listed = (topo.body.data?.list?.deviceInfo ?? []).map((d) => `${d.productKey}/${d.deviceName}`).sort();
  c.show('GetThingTopo', listed, c.subDevices.every((dn) => listed.includes(`${c.subProductKey}/${dn}`)));

  const [first = '', second = first] = c.subDevices;
  const target = { productKey: c.subProductKey, deviceName: first };
  const set = await c.client.setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...target, items: JSON.stringify({ SetPoint: 22.5 }) }));
  c.show(`SetDeviceProperty ${first} {SetPoint:22.5}`, set.body, set.body.success === true);
  const reply = await c.sim.waitForDeviceReply(target, (r) => r.kind === 'propertySetReply' && r.id === set.body.data?.messageId, 5000).catch(() => undefined);
  c.show(`  ${first} set_reply through the gateway`, reply ? { id: reply.id, code: reply.code } : 'none within 5 s', reply?.code === 200);

  const read = await c.client.invokeThingServiceWithOptions(
    new $Iot.InvokeThingServiceRequest({ productKey: c.subProductKey, deviceName: second, identifier: 'ReadMeter', args: '{}' }),
    longCallRuntime(),
  );
  c.show(`InvokeThingService ReadMeter on ${second} (sync)`, read.body, read.body.success === true && typeof read.body.data?.result === 'string');
  if (typeof read.body.data?.result === 'string') c.print(`  meter answered: ${read.body.data.result}`);
}
