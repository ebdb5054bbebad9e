/**
 * Custom-format (raw) products end to end, on the embedded broker (MQTT 3.1.1) and the managed mosquitto (MQTT 5):
 * the official cloud SDK installs a parse script (CreateThingScript), SetDeviceProperty and InvokeThingService reach
 * the agent's raw plugin as bytes on `down_raw` (or over `/ext/rrpc/.../thing/model/down_raw` for a sync service),
 * its answer bytes come back as Alink JSON, and its `up_raw` posts become property values. A script that throws,
 * loops or returns garbage is answered with its code while the simulator keeps serving (docs/protocol/raw-data.md).
 */
import * as $Iot from '@alicloud/iot20180120';
import { definePlugin, type Upstream } from '../handlers/api';
import { AlinkCodes } from '../thing-model';
import { longCallRuntime } from '../simulator/sdk-client';
import { waitFor } from './helpers/brokers';
import { calibrateReplyFrame, decodeFrame, postFrame, RAW_SCRIPT, replyFrame, type RawFrame } from '../bench/raw-script';
import { MODES, RAW_PK, startChannelAgent, startChannelSim, type ChannelAgent, type ChannelSim } from './channels-support';

const DEVICE = { productKey: RAW_PK, deviceName: 'raw-001' };
const BAD_SCRIPTS = {
  throws: 'function rawDataToProtocol(b) { return {}; } function protocolToRawData(j) { throw new Error("no encoder for " + j.method); }',
  loops: 'function rawDataToProtocol(b) { return {}; } function protocolToRawData(j) { for (;;) {} }',
  garbage: 'function rawDataToProtocol(b) { return {}; } function protocolToRawData(j) { return "not bytes"; }',
};

describe.each(MODES)('raw products on the %s broker', (mode) => {
  let s: ChannelSim;
  let device: ChannelAgent;
  const frames: RawFrame[] = [];
  const upReplies: Buffer[] = [];
  let upstream: Upstream | undefined;

  const rawPlugin = definePlugin({
    name: 'raw-device',
    setup: (ctx) => ({
      raw: {
        handle: (bytes) => {
          const f = decodeFrame(bytes);
          frames.push(f);
          if (f.kind === 'set') {
            // The device applies the values, answers, then reports them in its own format.
            setImmediate(() => void upstream?.publishRaw(postFrame(f.id + 1, f.values)));
            return replyFrame(f.id, AlinkCodes.SUCCESS);
          }
          if (f.kind === 'calibrate') return calibrateReplyFrame(f.id, AlinkCodes.SUCCESS, f.sensor === 2 ? -1.5 : 0.5);
          return replyFrame(f.id, AlinkCodes.SUCCESS);
        },
        reply: (bytes) => upReplies.push(bytes),
      },
      start: () => {
        upstream = ctx.upstream;
      },
    }),
  });

  beforeAll(async () => {
    s = await startChannelSim(mode, { scripts: { timeoutMs: 1000, maxHeapMb: 16 } });
    const created = await s.iot.createThingScript(new $Iot.CreateThingScriptRequest({ productKey: RAW_PK, scriptType: 'JavaScript', scriptContent: RAW_SCRIPT }));
    expect(created.body).toMatchObject({ success: true });
    device = await startChannelAgent(s, DEVICE, [{ module: 'raw-device', plugin: rawPlugin }]);
  });

  afterAll(async () => {
    await device?.cleanup();
    await s?.sim.stop();
  });

  async function setProperty(items: Record<string, unknown>) {
    return s.iot.setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...DEVICE, items: JSON.stringify(items) }));
  }

  it('serves the script back from GetThingScript through a signed URL, and refuses a tampered one', async () => {
    const got = await s.iot.getThingScript(new $Iot.GetThingScriptRequest({ productKey: RAW_PK }));
    expect(got.body.data?.scriptType).toBe('JavaScript');
    const url = got.body.data?.scriptUrl ?? '';
    expect(await (await fetch(url)).text()).toBe(RAW_SCRIPT);
    const tampered = url.replace(/Expires=(\d+)/, (_m, n: string) => `Expires=${Number(n) + 1}`);
    expect((await fetch(tampered)).status).toBe(403);
  });

  it('round-trips SetDeviceProperty through the parse script: bytes to the device, its bytes back as a 200 reply and as reported values', async () => {
    const res = await setProperty({ ReportInterval: 60, TempAlarmThreshold: -2.5 });
    expect(res.body.success).toBe(true);
    const messageId = res.body.data?.messageId;
    const reply = await s.sim.waitForDeviceReply(DEVICE, (r) => r.kind === 'propertySetReply' && r.id === messageId, 8000);
    expect(reply.code).toBe(AlinkCodes.SUCCESS);
    expect(frames).toContainEqual({ kind: 'set', id: Number(messageId), values: { ReportInterval: 60, TempAlarmThreshold: -2.5 } });
    await waitFor(() => s.sim.reportedProperties(RAW_PK, 'raw-001').ReportInterval, 8000, 'the up_raw post');
    const status = await s.iot.queryDevicePropertyStatus(new $Iot.QueryDevicePropertyStatusRequest(DEVICE));
    const values = Object.fromEntries((status.body.data?.list?.propertyStatusInfo ?? []).map((p) => [p.identifier, p.value]));
    expect(values).toMatchObject({ ReportInterval: '60', TempAlarmThreshold: '-2.5' });
    // The platform's post_reply, encoded by the script, reached the plugin's reply hook as bytes.
    await waitFor(() => upReplies.length > 0, 8000, 'the up_raw_reply');
    expect(decodeFrame(upReplies[0]!)).toMatchObject({ kind: 'reply', code: AlinkCodes.SUCCESS });
  });

  it('sends an async service as bytes and a sync one over /ext/rrpc/.../thing/model/down_raw', async () => {
    const asyncRes = await s.iot.invokeThingService(new $Iot.InvokeThingServiceRequest({ ...DEVICE, identifier: 'Reboot', args: JSON.stringify({ DelaySeconds: 9 }) }));
    const messageId = asyncRes.body.data?.messageId;
    const reply = await s.sim.waitForDeviceReply(DEVICE, (r) => r.kind === 'serviceReply' && r.id === messageId, 8000);
    expect(reply).toMatchObject({ code: AlinkCodes.SUCCESS, serviceId: 'Reboot' });
    expect(frames).toContainEqual({ kind: 'reboot', id: Number(messageId), delaySeconds: 9 });
    const sync = await s.iot.invokeThingServiceWithOptions(
      new $Iot.InvokeThingServiceRequest({ ...DEVICE, identifier: 'Calibrate', args: JSON.stringify({ Sensor: 2, ReferenceValue: 25, SettleSeconds: 1 }) }),
      longCallRuntime(),
    );
    expect(sync.body.success).toBe(true);
    expect(JSON.parse(sync.body.data?.result ?? '{}')).toEqual({ Success: 1, Offset: -1.5 });
  });

  it('passes a custom topic published with ?_sn=default through transformPayload', async () => {
    const seen = new Promise<unknown>((resolve) => s.sim.on('deviceMessage', (m) => m.topic.endsWith('/user/update') && resolve(m.parsed)));
    await upstream!.publish('update?_sn=default', Buffer.from('hello'), { qos: 1 });
    expect(await seen).toEqual({ topic: `/${RAW_PK}/raw-001/user/update`, text: 'hello', length: 5 });
  });

  it.each([
    ['throws', BAD_SCRIPTS.throws, AlinkCodes.SCRIPT_ERROR, /no encoder for thing\.service\.property\.set/],
    ['loops', BAD_SCRIPTS.loops, AlinkCodes.SCRIPT_ERROR, /did not finish within 1000 ms/],
    ['returns garbage', BAD_SCRIPTS.garbage, AlinkCodes.SCRIPT_BAD_OUTPUT, /expected an array of integers/],
  ])('answers SetDeviceProperty with the code of a script that %s, and keeps serving', async (_what, script, code, message) => {
    await s.iot.updateThingScript(new $Iot.UpdateThingScriptRequest({ productKey: RAW_PK, scriptType: 'JavaScript', scriptContent: script }));
    try {
      const res = await setProperty({ WorkMode: 1 });
      expect(res.body).toMatchObject({ success: false, code: 'iot.script.ScriptRunFailed' });
      expect(res.body.errorMessage).toContain(`code ${code}`);
      expect(res.body.errorMessage).toMatch(message);
    } finally {
      await s.iot.updateThingScript(new $Iot.UpdateThingScriptRequest({ productKey: RAW_PK, scriptType: 'JavaScript', scriptContent: RAW_SCRIPT }));
    }
    const again = await setProperty({ WorkMode: 2 });
    const reply = await s.sim.waitForDeviceReply(DEVICE, (r) => r.kind === 'propertySetReply' && r.id === again.body.data?.messageId, 8000);
    expect(reply.code).toBe(AlinkCodes.SUCCESS);
    expect(device.agent.state).toBe('connected');
  });

  it('refuses scripts that cannot run, and scripts for Alink products', async () => {
    const empty = await s.iot.updateThingScript(new $Iot.UpdateThingScriptRequest({ productKey: RAW_PK, scriptType: 'JavaScript', scriptContent: 'var x = 1;' }));
    expect(empty.body).toMatchObject({ success: false, code: 'iot.script.ScriptRunFailed' });
    expect(empty.body.errorMessage).toContain(`code ${AlinkCodes.SCRIPT_MISSING_FUNCTIONS}`);
    const alink = await s.iot.createThingScript(new $Iot.CreateThingScriptRequest({ productKey: 'a1GwDemo01', scriptType: 'JavaScript', scriptContent: RAW_SCRIPT }));
    expect(alink.body).toMatchObject({ success: false, code: 'iot.script.NotCustomFormatProduct' });
    const python = await s.iot.updateThingScript(new $Iot.UpdateThingScriptRequest({ productKey: RAW_PK, scriptType: 'Python_27', scriptContent: 'def x(): pass' }));
    expect(python.body).toMatchObject({ success: false, code: 'iot.script.UnsupportedScriptType' });
  });

  it('answers an up_raw the script cannot parse with a JSON error carrying its code', async () => {
    await s.iot.updateThingScript(new $Iot.UpdateThingScriptRequest({ productKey: RAW_PK, scriptType: 'JavaScript', scriptContent: BAD_SCRIPTS.garbage.replace('return {};', 'throw new Error("cannot parse");') }));
    try {
      const before = upReplies.length;
      await upstream!.publishRaw(Buffer.from([0x02, 0, 0, 0, 9]));
      await waitFor(() => upReplies.length > before, 8000, 'the error on up_raw_reply');
      expect(JSON.parse(upReplies[upReplies.length - 1]!.toString())).toMatchObject({ code: AlinkCodes.SCRIPT_ERROR, message: expect.stringContaining('cannot parse') });
    } finally {
      await s.iot.updateThingScript(new $Iot.UpdateThingScriptRequest({ productKey: RAW_PK, scriptType: 'JavaScript', scriptContent: RAW_SCRIPT }));
    }
  });
});
