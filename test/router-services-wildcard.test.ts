/**
 * The wildcard service claim (`services: { '*': handler }`): one plugin answers every TSL service no plugin claims
 * by name, telling them apart by `call.service`, with input and output validated against each service's TSL; a
 * named claim elsewhere wins; two `'*'` claims are refused naming both plugins. Through a real broker (aedes).
 */
import pino from 'pino';
import { definePlugin, HandlerError, type CallContext } from '../handlers/api';
import { loadPlugins } from '../agent/plugins/loader';
import { DN, exampleModel, isReplyTo, PK, startHarness, SYS, type Harness } from './router-harness';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const seen: { service: string | undefined; kind: string; input: unknown }[] = [];

/** A gateway driver that forwards every call: here it answers from a table per service. */
const driver = definePlugin({
  name: 'driver',
  setup: () => ({
    services: {
      '*': (input: Record<string, unknown>, call: CallContext) => {
        seen.push({ service: call.service, kind: call.kind, input });
        if (call.service === 'ExportLogs') return { Location: 'oss://logs/x.tgz', Lines: input.MinLevel === 2 ? -1 : 10 };
        if (call.service === 'Calibrate') return { Success: 1, Offset: 0.25, CalibratedAt: '1767225600000', Message: `via ${call.kind}` };
        if (call.service === 'ReadChannels') throw new HandlerError('bus offline', 100_321);
        return undefined;
      },
    },
  }),
});

/** Claims Reboot by name: it wins over the driver's '*'. */
const rebooter = definePlugin({ name: 'rebooter', setup: () => ({ services: { Reboot: () => undefined } }) });

describe("wildcard service claim ('*')", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ broker: 'aedes', plugins: [{ module: 'driver', plugin: driver }, { module: 'rebooter', plugin: rebooter }] });
  });
  afterAll(() => h.close());
  beforeEach(() => (seen.length = 0));

  it('answers every service no plugin claims by name, with call.service naming it', async () => {
    await h.send(`${SYS}/thing/service/ExportLogs`, { id: '9101', version: '1.0', params: { From: '1767225600000', To: '1767229200000', MinLevel: 1 } });
    expect((await h.next(isReplyTo('9101'))).json).toEqual({ id: '9101', code: 200, data: { Location: 'oss://logs/x.tgz', Lines: 10 } });
    expect(seen).toEqual([{ service: 'ExportLogs', kind: 'service', input: { From: '1767225600000', To: '1767229200000', MinLevel: 1 } }]);
  });

  it("validates a '*' handler's input and output against the called service's TSL", async () => {
    await h.send(`${SYS}/thing/service/ExportLogs`, { id: '9102', version: '1.0', params: { From: '1767225600000', To: '1767229200000', MinLevel: 2 } });
    const bad = await h.next(isReplyTo('9102'));
    expect(bad.json).toMatchObject({ id: '9102', code: 400 });
    expect(String(bad.json?.message)).toContain('Lines');
    await h.send(`${SYS}/thing/service/ExportLogs`, { id: '9103', version: '1.0', params: { From: 'yesterday' } });
    expect((await h.next(isReplyTo('9103'))).json).toMatchObject({ id: '9103', code: 460 });
    expect(seen.map((s) => s.input)).toEqual([{ From: '1767225600000', To: '1767229200000', MinLevel: 2 }]);
  });

  it('answers sync services over RRPC and passes HandlerError codes through', async () => {
    await h.send(`${SYS}/rrpc/request/77001`, { id: '9104', version: '1.0', method: 'thing.service.Calibrate', params: { Sensor: 1, ReferenceValue: 20, SettleSeconds: 0 } });
    const ok = await h.next((m) => m.topic === `${SYS}/rrpc/response/77001`);
    expect(JSON.parse(ok.payload.toString())).toMatchObject({ id: '9104', code: 200, data: { Message: 'via rrpc' } });
    await h.send(`${SYS}/rrpc/request/77002`, { id: '9105', version: '1.0', method: 'thing.service.ReadChannels', params: { Channels: [1] } });
    const failed = await h.next((m) => m.topic === `${SYS}/rrpc/response/77002`);
    expect(JSON.parse(failed.payload.toString())).toMatchObject({ id: '9105', code: 100321, message: 'bus offline' });
    expect(seen.map((s) => [s.service, s.kind])).toEqual([
      ['Calibrate', 'rrpc'],
      ['ReadChannels', 'rrpc'],
    ]);
  });

  it('leaves a service claimed by name to its plugin', async () => {
    await h.send(`${SYS}/thing/service/Reboot`, { id: '9106', version: '1.0', params: { DelaySeconds: 5 } });
    expect((await h.next(isReplyTo('9106'))).json).toEqual({ id: '9106', code: 200, data: {} });
    expect(seen).toEqual([]);
  });

  it("refuses two '*' service claims, naming both plugins", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wildcard-'));
    try {
      const other = definePlugin({ name: 'other-driver', setup: () => ({ services: { '*': () => undefined } }) });
      await expect(
        loadPlugins([{ module: 'driver', plugin: driver }, { module: 'other', plugin: other }], {
          model: exampleModel(),
          identity: { productKey: PK, deviceName: DN },
          logger: pino({ level: 'silent' }),
          dataDir: dir,
          configDir: dir,
        }),
      ).rejects.toMatchObject({ code: 'PLUGIN_CLAIM_INVALID', message: `both plugin "driver" and plugin "other-driver" claim every unclaimed service ('*')` });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
