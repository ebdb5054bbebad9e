/**
 * Bad input from devices, on each broker mode: every payload the simulator parses (property, event and batch
 * posts; set_reply, service replies, RRPC answers, `/ext/rrpc`, NTP, custom topics) fed a corpus of malformed
 * JSON, binary, deep and oversized payloads and wrong types, plus property-based envelopes (fast-check). Posts get
 * a reply with a platform code and a message; nothing crashes or is logged as a handler failure; a valid post is
 * still answered 200 afterwards.
 */
import fc from 'fast-check';
import type { MqttClient } from 'mqtt';
import { AlinkCodes } from '../../thing-model/codes';
import { BROKER_MODES, capturingLogger, connectDevice, modeConfig, nextMessage, PK, startSim, testConfig } from './harness';

const DN = 'gw-001';
const sys = `/sys/${PK}/${DN}`;
const POST_TOPICS = [`${sys}/thing/event/property/post`, `${sys}/thing/event/HighTemperature/post`, `${sys}/thing/event/NoSuchEvent/post`, `${sys}/thing/event/property/batch/post`];
const OTHER_TOPICS = [
  `${sys}/thing/service/property/set_reply`,
  `${sys}/thing/service/Reboot_reply`,
  `${sys}/rrpc/response/123`,
  `/ext/rrpc/123${sys}/thing/service/Calibrate`,
  `/ext/rrpc/9/${PK}/${DN}/user/get`,
  `/ext/ntp/${PK}/${DN}/request`,
  `/${PK}/${DN}/user/update`,
];
const PLATFORM_CODES = new Set<number>(Object.values(AlinkCodes));

/** Payloads no parser should choke on; each stays under the broker's payload limit. */
const CORPUS: (string | Buffer)[] = [
  '',
  ' ',
  'null',
  'true',
  '42',
  '"text"',
  '[]',
  '[1,2',
  '{',
  '{"id":',
  '{"id":"1"}',
  '{"params":{}}',
  '{"id":"1","params":null}',
  '{"id":"1","params":"x"}',
  '{"id":"1","params":[]}',
  '{"id":"1","params":{}}',
  '{"id":{},"params":{"Temperature":1}}',
  '{"id":"1","params":{"Temperature":"hot"}}',
  '{"id":"1","params":{"Temperature":1e400}}',
  '{"id":"1","params":{"__proto__":{"Temperature":1}}}',
  '{"id":"1","params":{"constructor":{"prototype":{}}}}',
  '{"id":"1","params":{"value":null,"time":"soon"}}',
  '{"id":"1","params":{"value":{"Temperature":{"value":1}}}}',
  '{"id":"1","params":{"properties":{"Temperature":[{"time":1}]},"events":[]}}',
  '{"id":"1","params":{"properties":{"Temperature":{"value":1}}}}',
  '{"id":"1","params":{"events":{"HighTemperature":[null]}}}',
  '{"id":"1","method":42,"params":{"Temperature":1}}',
  '{"id":"1","sys":"ack","params":{"Temperature":1}}',
  `{"id":"1","params":{"DeviceAlias":"${'x'.repeat(20000)}"}}`,
  `{"id":"1","params":{"Temperature":${'['.repeat(50000)}${']'.repeat(50000)}}}`,
  `{"id":"1","params":{"GatewayStatus":${'{"a":'.repeat(20000)}1${'}'.repeat(20000)}}}`,
  Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x7b]),
  Buffer.alloc(200_000, 0x7b),
];

function aliveCheck(dev: MqttClient): Promise<number> {
  const reply = nextMessage(dev, (t) => t === `${sys}/thing/event/property/post_reply`, 5000);
  dev.publish(`${sys}/thing/event/property/post`, JSON.stringify({ id: 'alive', version: '1.0', params: { Temperature: 21.5 } }));
  return reply.then((m) => (JSON.parse(m.payload.toString()) as { code: number }).code);
}

describe.each(BROKER_MODES)('fuzzing device payloads (%s broker)', (mode) => {
  let s: Awaited<ReturnType<typeof startSim>>;
  let dev: MqttClient;
  const logs = capturingLogger('warn');

  beforeAll(async () => {
    s = await startSim(testConfig({ ...modeConfig(mode) }), { logger: logs.logger });
    dev = await connectDevice(s.mqttUrl, { deviceName: DN });
    await dev.subscribeAsync([`${sys}/thing/event/+/post_reply`, `${sys}/thing/event/property/batch/post_reply`, `/ext/ntp/${PK}/${DN}/response`]);
  });
  afterAll(async () => {
    await dev?.endAsync(true);
    await s?.sim.stop();
  });

  /** Publishes one payload on a post topic and resolves with the reply the platform sent. */
  async function answerTo(topic: string, payload: string | Buffer): Promise<{ code: number; message: string }> {
    const reply = nextMessage(dev, (t) => t === `${topic}_reply`, 5000);
    await dev.publishAsync(topic, payload, { qos: 1 });
    return JSON.parse((await reply).payload.toString()) as { code: number; message: string };
  }

  it('answers every corpus payload on every post topic with a platform code and a message', async () => {
    for (const topic of POST_TOPICS) {
      for (const payload of CORPUS) {
        const r = await answerTo(topic, payload);
        expect([topic, String(payload).slice(0, 40), PLATFORM_CODES.has(r.code), typeof r.message]).toEqual([topic, String(payload).slice(0, 40), true, 'string']);
      }
    }
    expect(await aliveCheck(dev)).toBe(200);
  });

  it('swallows the corpus on every other topic it parses and keeps answering', async () => {
    for (const topic of OTHER_TOPICS) for (const payload of CORPUS) await dev.publishAsync(topic, payload, { qos: 1 });
    expect(await aliveCheck(dev)).toBe(200);
  });

  it('property-based: any JSON as params, any JSON as the whole payload, random bytes', async () => {
    const topic = fc.constantFrom(...POST_TOPICS);
    const payload = fc.oneof(
      fc.record({ id: fc.oneof(fc.string(), fc.integer()), version: fc.constant('1.0'), params: fc.jsonValue() }).map((v) => JSON.stringify(v)),
      fc.jsonValue().map((v) => JSON.stringify({ id: '7', params: v })),
      fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null'),
      fc.uint8Array({ maxLength: 256 }).map((a) => Buffer.from(a)),
    );
    await fc.assert(
      fc.asyncProperty(topic, payload, async (t, p) => {
        const r = await answerTo(t, p);
        expect(PLATFORM_CODES.has(r.code)).toBe(true);
        expect(typeof r.message).toBe('string');
      }),
      { numRuns: 150 },
    );
    expect(await aliveCheck(dev)).toBe(200);
  });

  it('logged no handler failure', () => {
    expect(logs.lines.filter((l) => l.includes('handling a device message failed'))).toEqual([]);
  });
});
