import * as $Iot from '@alicloud/iot20180120';
import { startSim, testConfig, connectDevice } from '/work/main/simulator/test/harness';
import { createIotClient, longCallRuntime } from '/work/main/simulator/sdk-client';
(async () => {
  const s = await startSim(testConfig({limits: {qps: {Pub: 1e6, RRpc: 1e6}}}));
  const d = await connectDevice(s.mqttUrl, { deviceName: 'gw-001' });
  await d.subscribeAsync(['/sys/a1GwDemo01/gw-001/rrpc/request/+', '/a1GwDemo01/gw-001/user/#']);
  d.on('message', (t, p) => { if (t.includes('/rrpc/request/')) d.publish(t.replace('/request/', '/response/'), p); });
  const rt = longCallRuntime();
  const c = createIotClient(s.httpUrl);
  const calls: [string, () => Promise<unknown>][] = [
    ['status', () => c.getDeviceStatusWithOptions(new $Iot.GetDeviceStatusRequest({ productKey: 'a1GwDemo01', deviceName: 'gw-001' }), rt)],
    ['pub', () => c.pubWithOptions(new $Iot.PubRequest({ productKey: 'a1GwDemo01', topicFullName: '/a1GwDemo01/gw-001/user/bench', messageContent: 'AAAA', qos: 0 }), rt)],
    ['rrpc', () => c.rRpcWithOptions(new $Iot.RRpcRequest({ productKey: 'a1GwDemo01', deviceName: 'gw-001', requestBase64Byte: 'AAAA', timeout: 5000 }), rt)],
  ];
  for (const [name, f] of calls) {
    const t1 = Date.now(); let n = 0;
    await Promise.all(Array.from({ length: 32 }, async () => { while (Date.now() - t1 < 2000) { await f(); n++; } }));
    console.log(name, n / 2, 'per s');
  }
  await d.endAsync(); await s.sim.stop();
})();
