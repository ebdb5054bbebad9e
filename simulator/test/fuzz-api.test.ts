/**
 * Bad input to the cloud side: every action's parameters, property-based (fast-check) over the names the action
 * knows, list forms and strangers, with values from valid ones to garbage, plus a corpus of malformed requests.
 * Each call gets a platform error code and a message (or succeeds), never InternalError, and the simulator keeps
 * answering. Devices stay offline so no call waits on one.
 */
import fc from 'fast-check';
import { API_ACTIONS } from '../api';
import { API_ERROR_CODES } from '../errors';
import { httpRequest, PK, rawCall, startSim, testConfig } from './harness';

let s: Awaited<ReturnType<typeof startSim>>;
const qps = Object.fromEntries(API_ACTIONS.map((a) => [a.name, 1_000_000]));

beforeAll(async () => {
  s = await startSim(testConfig({ limits: { qps, syncServiceTimeoutMs: 200 }, http: { maxBodyBytes: 64 * 1024 } }));
});
afterAll(() => s?.sim.stop());

const VALID_VALUES = [
  PK,
  'gw-001',
  'gw-003',
  'Reboot',
  'Calibrate',
  '{"WorkMode":1}',
  '{"DelaySeconds":3}',
  `/${PK}/gw-001/user/get`,
  'aGVsbG8=',
  '1',
  '0',
  '1000',
  '8000',
  String(Date.now()),
];
const GARBAGE = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.string({ minLength: 2000, maxLength: 5000 }),
  fc.integer().map(String),
  fc.double().map(String),
  fc.jsonValue().map((v) => JSON.stringify(v) ?? ''),
  fc.constantFrom('', ' ', 'null', '[]', '{}', '{', '-1', '1e400', 'NaN', '%zz', '\u0000', '😀'.repeat(100), 'true'),
);
const VALUE = fc.oneof(fc.constantFrom(...VALID_VALUES), GARBAGE);

interface Body {
  Code?: string;
  Message?: string;
  /** Business errors (HTTP 200, Success:false) carry ErrorMessage, as the platform's do. */
  ErrorMessage?: string;
  Success?: boolean;
  RequestId?: string;
}

function parseBody(text: string): Body {
  return JSON.parse(text) as Body;
}

/** What every answer must be: a JSON body, success or a known non-internal code with a message. */
function expectPlatformAnswer(status: number, text: string, sent: string[]): void {
  expect([200, 400, 404, 413]).toContain(status);
  const body = parseBody(text);
  expect(typeof body.RequestId).toBe('string');
  if (status === 200 && body.Success !== false && body.Code === undefined) return;
  expect(API_ERROR_CODES).toContain(body.Code);
  expect(body.Code).not.toBe('InternalError');
  const message = body.Message ?? body.ErrorMessage;
  expect(typeof message).toBe('string');
  expect(message!.length).toBeGreaterThan(0);
  if (body.Code === 'InvalidParameter') {
    // The message names the parameter it refuses: one that was sent (as sent, or its list's base name).
    const names = [...sent, ...sent.map((k) => k.replace(/\.\d+.*$/, ''))].filter((n) => n !== '');
    expect([message, names.some((n) => message!.includes(n))]).toEqual([message, true]);
  }
}

describe('fuzzing every action', () => {
  it.each(API_ACTIONS.map((a) => [a.name, a] as const))('%s: random parameters always get a platform answer', async (_name, action) => {
    const props = Object.keys((action.schema as { properties?: Record<string, unknown> }).properties ?? {});
    const names = [...props, ...(action.lists ?? []).flatMap((l) => [`${l}.1`, `${l}.2`, `${l}.101`, `${l}.0`, `${l}.1.Key`, `${l}.1.Value`]), 'Unknown', 'Format'];
    const params = fc.dictionary(fc.oneof(fc.constantFrom(...names), fc.string({ maxLength: 12 })), VALUE, { maxKeys: 8 });
    await fc.assert(
      fc.asyncProperty(params, async (p) => {
        const res = await rawCall(s.httpUrl, action.name, p);
        expectPlatformAnswer(res.status, res.body, Object.keys(p));
      }),
      { numRuns: 60 },
    );
  });

  it('a corpus of malformed requests: bad encodings, huge and binary bodies, duplicate and list-shaped names', async () => {
    const cases: { action: string; params: Record<string, string>; body?: string }[] = [
      { action: 'Pub', params: { ProductKey: PK, TopicFullName: `/${PK}/gw-001/user/get`, Qos: '1' }, body: 'MessageContent=%ff%fe%00' },
      { action: 'Pub', params: { ProductKey: PK, TopicFullName: `/${PK}/gw-001/user/get` }, body: `MessageContent=${'A'.repeat(60_000)}` },
      { action: 'Pub', params: { ProductKey: PK, TopicFullName: '/../../etc/passwd' }, body: 'MessageContent=aGk=' },
      { action: 'SetDevicesProperty', params: { ProductKey: PK, 'DeviceName.1': 'gw-001', 'DeviceName.1000000': 'gw-003', Items: '{"WorkMode":1}' } },
      { action: 'SetDeviceProperty', params: { ProductKey: PK, DeviceName: 'gw-001', Items: `{"WorkMode":${'['.repeat(5000)}` } },
      { action: 'SetDeviceProperty', params: { ProductKey: PK, DeviceName: 'gw-001', Items: '{"__proto__":{"WorkMode":1}}' } },
      { action: 'InvokeThingService', params: { ProductKey: PK, DeviceName: 'gw-001', Identifier: 'constructor', Args: '{}' } },
      { action: 'InvokeThingsService', params: { ProductKey: PK, 'DeviceName.1': 'gw-001', Identifier: 'Reboot', Args: '[1,2]' } },
      { action: 'RRpc', params: { ProductKey: PK, DeviceName: 'gw-001', RequestBase64Byte: '!!!notbase64', Timeout: '99999999999999999999' } },
      { action: 'QueryDeviceEventData', params: { ProductKey: PK, DeviceName: 'gw-001', StartTime: '-1', EndTime: '1e30', PageSize: '0' } },
      { action: 'RegisterDevice', params: { ProductKey: PK, DeviceName: 'x'.repeat(300) } },
      { action: 'GetDeviceStatus', params: { IotId: '\u0000\u0001' } },
    ];
    for (const c of cases) {
      const res = await rawCall(s.httpUrl, c.action, c.params, c.body ? { body: c.body } : {});
      expectPlatformAnswer(res.status, res.body, [...Object.keys(c.params), ...(c.body ? ['request body', 'MessageContent'] : [])]);
    }
    const binary = await httpRequest(s.httpUrl, { path: '/?Action=Pub', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from([0xff, 0, 0xfe, 0x80]) });
    expectPlatformAnswer(binary.status, binary.body, ['request body']);
    const oversize = await httpRequest(s.httpUrl, { path: '/', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.alloc(70 * 1024, 0x41) });
    expect(oversize.status).toBe(413);
  });

  it('still answers a valid call afterwards', async () => {
    const res = await rawCall(s.httpUrl, 'GetDeviceStatus', { ProductKey: PK, DeviceName: 'gw-001' });
    expect(res.status).toBe(200);
    expect(parseBody(res.body)).toMatchObject({ Success: true });
  });
});
