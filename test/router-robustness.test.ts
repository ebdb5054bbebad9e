/**
 * The router never throws and answers every request exactly once, whatever arrives: generated payloads
 * (bytes, arbitrary JSON, near-miss envelopes) on every topic kind. In-process with a recording uplink so that
 * a few hundred cases run in well under a second each; the broker path is covered by the other router tests.
 */
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createRouter, type Router } from '../agent/router';
import type { PublishOptions, PublishReceipt, Uplink } from '../agent/transport';
import { definePlugin } from '../handlers/api';
import { loadPlugins, type PluginHost } from '../agent/plugins/loader';
import { DN, exampleModel, PK, SYS, USER } from './router-harness';

class RecordingUplink implements Uplink {
  readonly sent: { topic: string; payload: string | Buffer; opts: PublishOptions }[] = [];
  async publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<PublishReceipt> {
    this.sent.push({ topic, payload, opts });
    return { acked: Promise.resolve() };
  }
}

const plugin = definePlugin({
  name: 'fuzz-target',
  setup: () => ({
    services: {
      Reboot: () => ({}),
      Calibrate: () => ({ Success: 1, Offset: 0.5, CalibratedAt: '1700000000000', Message: 'ok' }),
    },
    customTopics: {
      'in/#': (msg) => {
        if (msg.payload.length % 2 === 1) throw new Error('odd');
        return { payload: msg.payload };
      },
    },
  }),
});

describe('router robustness', () => {
  let dir: string;
  let plugins: PluginHost;
  let router: Router;
  const uplink = new RecordingUplink();
  let seq = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'router-fuzz-'));
    const model = exampleModel();
    const logger = pino({ level: 'silent' });
    plugins = await loadPlugins([{ module: 'fuzz-target', plugin }], { model, identity: { productKey: PK, deviceName: DN }, logger, dataDir: dir, configDir: dir });
    router = createRouter({ identity: { productKey: PK, deviceName: DN }, model, uplink, plugins, rrpc: { budgetMs: 1000 }, logger, upstream: { replyTimeoutMs: 50 } });
    await plugins.start(router.upstream);
  });
  afterAll(async () => {
    await router.drain(500);
    await plugins.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const payload = fc.oneof(
    fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
    fc.json().map((s) => Buffer.from(s)),
    fc
      .record(
        {
          id: fc.oneof(fc.nat().map(String), fc.string(), fc.integer(), fc.constant(undefined)),
          version: fc.oneof(fc.constant('1.0'), fc.anything()),
          params: fc.oneof(fc.dictionary(fc.constantFrom('ReportInterval', 'WorkMode', 'DelaySeconds', 'Sensor', 'x'), fc.anything()), fc.anything()),
          method: fc.oneof(fc.constantFrom('thing.service.property.set', 'thing.service.Reboot', 'thing.service.Calibrate', 'thing.service.'), fc.string()),
        },
        { requiredKeys: [] },
      )
      .map((o) => Buffer.from(JSON.stringify(o))),
  );

  /** Topic kind → (topic, where its one answer goes). */
  const target = fc.constantFrom('set', 'service', 'rrpc', 'ext', 'extCustom', 'custom', 'postReply', 'odd').map((kind) => {
    const mid = String(1_000_000 + seq++);
    switch (kind) {
      case 'set':
        return { topic: `${SYS}/thing/service/property/set`, replyOn: `${SYS}/thing/service/property/set_reply` };
      case 'service':
        return { topic: `${SYS}/thing/service/Reboot`, replyOn: `${SYS}/thing/service/Reboot_reply` };
      case 'rrpc':
        return { topic: `${SYS}/rrpc/request/${mid}`, replyOn: `${SYS}/rrpc/response/${mid}` };
      case 'ext':
        return { topic: `/ext/rrpc/${mid}${SYS}/thing/service/Calibrate`, replyOn: `/ext/rrpc/${mid}${SYS}/thing/service/Calibrate` };
      case 'extCustom':
        return { topic: `/ext/rrpc/${mid}${USER}nobody`, replyOn: `/ext/rrpc/${mid}${USER}nobody` };
      case 'custom':
        return { topic: `${USER}in/${mid}`, replyOn: undefined };
      case 'postReply':
        return { topic: `${SYS}/thing/event/property/post_reply`, replyOn: undefined };
      default:
        return { topic: `/ext/rrpc/${mid}`, replyOn: undefined };
    }
  });

  it('answers every request exactly once and never rejects', async () => {
    await fc.assert(
      fc.asyncProperty(target, payload, async (t, body) => {
        const before = uplink.sent.length;
        await expect(router.handle({ topic: t.topic, payload: body, qos: 1 })).resolves.toBeUndefined();
        const replies = uplink.sent.slice(before).filter((s) => s.topic === t.replyOn);
        if (t.replyOn === undefined) return;
        // A reply the router answered from a redelivery guard would also be fine, but no run repeats an id here.
        expect(replies).toHaveLength(1);
        const text = replies[0]?.payload.toString() ?? '';
        const code = (JSON.parse(text) as { code?: number }).code;
        expect([200, 400, 460]).toContain(code);
      }),
      { numRuns: 400, interruptAfterTimeLimit: 20000 },
    );
  });
});
