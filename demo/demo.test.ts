/** `npm start`'s demo, in-process: every seed API through the official SDK against the default config. */
import { runDemo } from './demo';
import { startDemoDevice } from './demo-device';

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
    // mosquitto and its plugin headers are installed where the tests run (scripts/test.sh): the demo uses them.
    expect(lines[0]).toMatch(/^simulator: HTTP API http:\/\/127\.0\.0\.1:\d+, MQTT mqtt:\/\/127\.0\.0\.1:\d+ on managed mosquitto /);
  });

  it('runs the real agent with the example plugin by default', async () => {
    const lines: string[] = [];
    expect(await runDemo({ print: (l) => lines.push(l) })).toBe(0);
    const line = (prefix: string) => lines.find((l) => l.startsWith(prefix)) ?? '';
    // Post-after-set: the values the agent accepted reach the cloud's shadow.
    expect(line('ok     device property post of the new values')).toContain('"params":{"ReportInterval":60,"WorkMode":1}');
    // The example plugin's sync service output: ReferenceValue 25 against its default temperature reading 21.
    expect(line('  service output:')).toContain('"Offset":4');
    expect(line('ok     device event BootCompleted')).toContain('"FirmwareVersion":"1.0.0"');
    expect(line('  device answered:')).toContain('"op":"pong"');
    expect(line('ok     device answer on /user/echo/reply')).toContain('level');
    expect(line('ok   QueryDevicePropertyStatus')).toContain('LastCalibrationTime=');
    // The gateway step: two meters of another product behind the agent, reached through the official SDK.
    expect(line('ok   sub-devices meter-01, meter-02 logged in through the gateway')).toContain('["ONLINE","ONLINE"]');
    expect(line('ok   GetThingTopo')).toContain('a1SubDemo01/meter-01');
    expect(line('ok     meter-01 set_reply through the gateway')).toContain('"code":200');
    expect(line('  meter answered:')).toContain('Energy');
  });

  it('takes another device through startDevice', async () => {
    const seen: string[] = [];
    const lines: string[] = [];
    const failures = await runDemo({
      print: (l) => lines.push(l),
      startDevice: async (info) => {
        seen.push(`${info.productKey}/${info.deviceName} ${info.tslPath.endsWith('example-gateway.json')}`);
        return startDemoDevice(info);
      },
    });
    expect(failures).toBe(0);
    expect(seen).toEqual(['a1GwDemo01/gw-001 true']);
    // The canned device takes OTA updates: the demo's OTA step runs through the SDK to SUCCEEDED.
    for (const step of ['GenerateOTAUploadURL + upload', 'CreateOTAFirmware', 'CreateOTAStaticUpgradeJob', 'ListOTATaskByJob: the task succeeded', 'ListOTAModuleVersionsByDevice']) {
      expect(lines.some((l) => l.startsWith('ok') && l.includes(step))).toBe(true);
    }
    expect(lines).toEqual(expect.arrayContaining(['  task IN_PROGRESS 50% (downloaded)', '  task SUCCEEDED 100% (installed)']));
  });
});
