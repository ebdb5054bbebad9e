/** Parameter decoding, the XML serializer, topic permissions and device authentication. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCredentials, SIGN_METHODS } from '../../thing-model/wire';
import { gatherParams, parsePairs, percentEncode } from '../http/params';
import { QpsLimiter } from '../http/qps-limiter';
import { toXml } from '../http/xml';
import { mayPublish, maySubscribe } from '../mqtt/acl';
import { checkDeviceConnect } from '../mqtt/auth';

describe('params', () => {
  it('decodes + as space and percent escapes as UTF-8', () => {
    expect(parsePairs('a=x+y&b=%E5%AE%A2%20z&c&=v', 'q')).toEqual([
      ['a', 'x y'],
      ['b', '客 z'],
      ['c', ''],
      ['', 'v'],
    ]);
  });

  it('refuses malformed percent-encoding with InvalidParameter', () => {
    expect(() => parsePairs('a=%E5%', 'query string')).toThrow(/query string/);
  });

  it('encodes the RFC 3986 way', () => {
    expect(percentEncode("eco (night)*it's ok!~")).toBe('eco%20%28night%29%2Ait%27s%20ok%21~');
  });

  it('gathers lists by index and names bad indexes', () => {
    const m = new Map([
      ['DeviceName.2', 'b'],
      ['DeviceName.1', 'a'],
      ['UserProp.1.Key', 'k'],
      ['UserProp.1.Value', 'v'],
      ['Other.1', 'kept'],
      ['Action', 'Pub'],
    ]);
    expect(gatherParams(m, ['DeviceName', 'UserProp'])).toEqual({ DeviceName: ['a', 'b'], UserProp: [{ Key: 'k', Value: 'v' }], 'Other.1': 'kept' });
    expect(() => gatherParams(new Map([['DeviceName.0', 'x']]), ['DeviceName'])).toThrow(/DeviceName\.0/);
  });
});

describe('xml', () => {
  it('writes objects as elements and arrays as repeated elements, escaped', () => {
    expect(toXml('QueryResponse', { RequestId: 'R', Success: true, Data: { List: { Info: [{ V: '<a&b>' }, { V: 2 }] } } })).toBe(
      "<?xml version='1.0' encoding='UTF-8'?><QueryResponse><RequestId>R</RequestId><Success>true</Success><Data><List><Info><V>&lt;a&amp;b&gt;</V></Info><Info><V>2</V></Info></List></Data></QueryResponse>",
    );
  });
});

describe('QpsLimiter', () => {
  it('passes the limit per second and refills', () => {
    const l = new QpsLimiter({ RRpc: 10 });
    let passed = 0;
    for (let i = 0; i < 20; i++) if (l.tryTake('acct', 'RRpc', 0)) passed++;
    expect(passed).toBe(10);
    expect(l.tryTake('acct', 'RRpc', 50)).toBe(false);
    expect(l.tryTake('acct', 'RRpc', 100)).toBe(true);
    expect(l.tryTake('other', 'RRpc', 100)).toBe(true);
    expect(l.tryTake('acct', 'Pub', 0)).toBe(true);
  });
});

describe('topic permissions', () => {
  const me = { productKey: 'a1GwDemo01', deviceName: 'gw-001' };
  it.each([
    '/sys/a1GwDemo01/gw-001/thing/event/property/post',
    '/sys/a1GwDemo01/gw-001/rrpc/response/123',
    '/a1GwDemo01/gw-001/user/update',
    '/ext/rrpc/123/a1GwDemo01/gw-001/user/get',
    '/ext/rrpc/123/sys/a1GwDemo01/gw-001/thing/service/Calibrate',
    '/ext/ntp/a1GwDemo01/gw-001/request',
    '/shadow/update/a1GwDemo01/gw-001',
    '/broadcast/a1GwDemo01/news',
  ])('may publish %s', (t) => expect(mayPublish(t, me)).toBe(true));

  it.each([
    '/sys/a1GwDemo01/gw-002/thing/event/property/post',
    '/sys/a1Other/gw-001/thing/event/property/post',
    '/a1GwDemo01/gw-002/user/update',
    '/ext/rrpc/123/a1GwDemo01/gw-002/user/get',
    '/ext/rrpc/123',
    '/sys/a1GwDemo01/gw-001',
    '/broadcast/a1Other/news',
    'no-slash',
    '/random/topic',
  ])('may not publish %s', (t) => expect(mayPublish(t, me)).toBe(false));

  it.each([
    '/sys/a1GwDemo01/gw-001/#',
    '/sys/a1GwDemo01/gw-001/thing/event/+/post_reply',
    '/sys/a1GwDemo01/gw-001/rrpc/request/+',
    '/a1GwDemo01/gw-001/user/#',
    '/ext/rrpc/+/a1GwDemo01/gw-001/user/get',
    '/shadow/get/a1GwDemo01/gw-001',
    '/ext/session/a1GwDemo01/gw-001/combine/login_reply',
    '/broadcast/a1GwDemo01/#',
  ])('may subscribe %s', (t) => expect(maySubscribe(t, me)).toBe(true));

  it.each(['#', '/sys/#', '/sys/a1GwDemo01/+/thing/#', '/sys/+/gw-001/#', '/+/+/user/#', '/ext/rrpc/#', '/ext/rrpc/+/#', '/sys/a1GwDemo01/gw-001/#/x'])(
    'may not subscribe %s',
    (t) => expect(maySubscribe(t, me)).toBe(false),
  );
});

describe('device authentication', () => {
  const secret = '3f6c0a9d27b84e1c95d2a7e41b08c6f3';
  const rules = {
    keepaliveMin: 30,
    keepaliveMax: 1200,
    secretOf: (pk: string, dn: string) => (pk === 'a1GwDemo01' && dn === 'gw-001' ? secret : pk === 'a1TestPK01' && dn === 'dev1' ? 'testDeviceSecret' : undefined),
  };
  const creds = (signMethod: (typeof SIGN_METHODS)[number]) =>
    buildCredentials({ productKey: 'a1GwDemo01', deviceName: 'gw-001', deviceSecret: secret, signMethod, secureMode: 2, timestamp: 1700000000000, clientId: 'a1GwDemo01.gw-001' });

  it('reproduces vector B for each sign method, lower- and upper-case hex', () => {
    const expected = { hmacsha256: '68d3ff421d7a5bc571c08e61fd5206be40735efa3a78242f3b1245932db03314', hmacsha1: '77aef4bae332c4d6ffff48faa3e448185e3ff503', hmacmd5: '4bd700ccb08a526c0984c527c0f7878a' };
    for (const m of SIGN_METHODS) {
      const c = creds(m);
      expect(c.password).toBe(expected[m]);
      for (const pw of [c.password, c.password.toUpperCase()]) {
        const out = checkDeviceConnect({ clientId: c.clientId, username: c.username, password: Buffer.from(pw), keepalive: 60 }, rules);
        expect(out).toMatchObject({ ok: true, productKey: 'a1GwDemo01', deviceName: 'gw-001' });
      }
    }
  });

  it('reads signmethod in any spelling: HmacSHA256, hmacSha256, sha256, hmacSha1, HMACMD5', () => {
    for (const [spelled, method] of [['HmacSHA256', 'hmacsha256'], ['hmacSha256', 'hmacsha256'], ['sha256', 'hmacsha256'], ['hmacSha1', 'hmacsha1'], ['HMACMD5', 'hmacmd5']] as const) {
      const c = creds(method);
      const out = checkDeviceConnect({ clientId: c.clientId.replace(`signmethod=${method}`, `signmethod=${spelled}`), username: c.username, password: Buffer.from(c.password), keepalive: 60 }, rules);
      expect([spelled, out.ok]).toEqual([spelled, true]);
    }
  });

  it("accepts the official device SDK's captured CONNECT", () => {
    const f = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'device-sdk-connect.json'), 'utf8')) as { connect: { clientId: string; username: string; password: string; keepalive: number } };
    const out = checkDeviceConnect({ ...f.connect, password: Buffer.from(f.connect.password) }, rules);
    expect(out).toMatchObject({ ok: true, productKey: 'a1TestPK01', deviceName: 'dev1', cid: 'a1TestPK01&dev1' });
  });

  it('refuses a wrong password, a wrong method, an unknown device, a bad clientId and a short keepalive', () => {
    const c = creds('hmacsha256');
    const base = { clientId: c.clientId, username: c.username, password: Buffer.from(c.password), keepalive: 60 };
    expect(checkDeviceConnect({ ...base, password: Buffer.from('00' + c.password.slice(2)) }, rules)).toMatchObject({ ok: false, returnCode: 4 });
    expect(checkDeviceConnect({ ...base, clientId: c.clientId.replace('hmacsha256', 'hmacsha1') }, rules)).toMatchObject({ ok: false, returnCode: 4 });
    expect(checkDeviceConnect({ ...base, clientId: c.clientId.replace('hmacsha256', 'sha999') }, rules)).toMatchObject({ ok: false, returnCode: 4 });
    expect(checkDeviceConnect({ ...base, username: 'gw-002&a1GwDemo01' }, rules)).toMatchObject({ ok: false, returnCode: 4 });
    expect(checkDeviceConnect({ ...base, username: 'nonsense' }, rules)).toMatchObject({ ok: false, returnCode: 4 });
    expect(checkDeviceConnect({ ...base, clientId: 'plain-client-id' }, rules)).toMatchObject({ ok: false, returnCode: 2 });
    expect(checkDeviceConnect({ ...base, keepalive: 10 }, rules)).toMatchObject({ ok: false, returnCode: 3 });
    expect(checkDeviceConnect({ ...base, password: undefined }, rules)).toMatchObject({ ok: false, returnCode: 4 });
  });
});
