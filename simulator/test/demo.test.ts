/** `npm start`'s demo, in-process: every seed API through the official SDK against the default config. */
import { runDemo } from '../demo';
import { startDemoDevice } from '../demo-device';

describe('demo', () => {
  it('calls each seed API and gets the expected answers', async () => {
    const lines: string[] = [];
    const failures = await runDemo({ print: (l) => lines.push(l) });
    expect(lines.filter((l) => l.startsWith('FAIL'))).toEqual([]);
    expect(failures).toBe(0);
    for (const api of ['SetDeviceProperty', 'InvokeThingService Reboot (async)', 'InvokeThingService Calibrate (sync)', 'InvokeThingsService', 'RRpc', 'Pub', 'QueryDevicePropertyStatus']) {
      expect(lines.some((l) => l.startsWith('ok') && l.includes(api))).toBe(true);
    }
    expect(lines).toContain('demo: every call answered as expected');
  });

  it('takes another device through startDevice', async () => {
    const seen: string[] = [];
    const failures = await runDemo({
      print: () => undefined,
      startDevice: async (info) => {
        seen.push(`${info.productKey}/${info.deviceName} ${info.tslPath.endsWith('example-gateway.json')}`);
        return startDemoDevice(info);
      },
    });
    expect(failures).toBe(0);
    expect(seen).toEqual(['a1GwDemo01/gw-001 true']);
  });
});
