/**
 * The mosquitto plugin's CONNECT check (C, simulator/mosquitto-plugin/sign.c) against the embedded broker's
 * (simulator/mqtt/auth.ts), property-based: the same credentials, valid ones in every sign method, spelling,
 * signed-content variant and hex case, and broken ones, get the same verdict from both; valid ones pass.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { signDevice, SIGN_METHODS } from '../../thing-model/wire';
import { checkDeviceConnect } from '../mqtt/auth';
import { managedSupport } from '../mqtt/mosquitto-support';

const SPELLINGS: Record<string, string[]> = {
  hmacsha256: ['hmacsha256', 'HmacSHA256', 'hmacSha256', 'sha256', 'SHA256'],
  hmacsha1: ['hmacsha1', 'HmacSHA1', 'hmacSha1', 'sha1'],
  hmacmd5: ['hmacmd5', 'HmacMD5', 'hmacMd5', 'md5'],
};

interface Case {
  clientId: string;
  username: string;
  password: string;
  secret: string;
  valid: boolean;
}

const ascii = (chars: string, min: number, max: number) => fc.string({ unit: fc.constantFrom(...chars.split('')), minLength: min, maxLength: max });
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

const validCase = fc
  .record({
    pk: ascii(ALNUM, 1, 12),
    dn: ascii(`${ALNUM}_@.:-`, 4, 20),
    secret: ascii('0123456789abcdef', 16, 32),
    cid: ascii(`${ALNUM}.&_-`, 0, 64),
    ts: fc.oneof(fc.constant(undefined), fc.integer({ min: 0, max: 2 ** 45 }).map(String)),
    method: fc.constantFrom(...SIGN_METHODS),
    spelling: fc.nat(),
    omitMethod: fc.boolean(),
    signCid: fc.boolean(),
    signTs: fc.boolean(),
    upper: fc.boolean(),
    extra: fc.constantFrom('', ',_ss=1,ext=3', ',lan=NodeJS,_v=1.2.8', ',gw=0,ext=0,lan=C'),
  })
  .map((r) => {
    const method = r.omitMethod ? 'hmacmd5' : r.method;
    const spelled = SPELLINGS[method]![r.spelling % SPELLINGS[method]!.length]!;
    const params = [`securemode=3`, ...(r.omitMethod ? [] : [`signmethod=${spelled}`]), ...(r.ts === undefined ? [] : [`timestamp=${r.ts}`])].join(',');
    const pw = signDevice({ productKey: r.pk, deviceName: r.dn, deviceSecret: r.secret, signMethod: method, ...(r.signCid ? { clientId: r.cid } : {}), ...(r.signTs && r.ts !== undefined ? { timestamp: r.ts } : {}) });
    return { clientId: `${r.cid}|${params}${r.extra}|`, username: `${r.dn}&${r.pk}`, password: r.upper ? pw.toUpperCase() : pw, secret: r.secret, valid: true };
  });

/** One change that must make a valid case fail (or, for a no-op, keep it valid). */
const broken = fc.tuple(validCase, fc.nat(), fc.constantFrom('secret', 'password', 'method', 'securemode', 'bars', 'username', 'kv')).map(([c, n, what]): Case => {
  switch (what) {
    case 'secret':
      return { ...c, secret: `${c.secret}x`, valid: false };
    case 'password': {
      const i = n % c.password.length;
      const ch = c.password[i] === '0' ? '1' : '0';
      return { ...c, password: c.password.slice(0, i) + ch + c.password.slice(i + 1), valid: false };
    }
    case 'method':
      // Last: a key given twice counts with its last value.
      return { ...c, clientId: `${c.clientId.slice(0, -1)},signmethod=hmacsha512|`, valid: false };
    case 'securemode':
      return { ...c, clientId: c.clientId.replace('securemode=3', `securemode=${(n % 7) + 4}`), valid: false };
    case 'bars':
      return { ...c, clientId: c.clientId.slice(0, -1), valid: false };
    case 'username':
      return { ...c, username: c.username.replace('&', ''), valid: false };
    default:
      return { ...c, clientId: c.clientId.replace('securemode=3', 'securemode'), valid: false };
  }
});

const support = managedSupport();
let driver: string;
let dir: string;

beforeAll(() => {
  if (!support.ok) throw new Error(`the plugin's C check needs a compiler and the headers: ${support.why}`);
  dir = mkdtempSync(join(tmpdir(), 'alink-sign-'));
  driver = join(dir, 'sign-driver');
  const src = join(__dirname, '..', 'mosquitto-plugin');
  execFileSync(support.cc, ['-O2', '-Wall', '-o', driver, join(__dirname, 'fixtures', 'sign-driver.c'), join(src, 'sign.c'), '-lcrypto']);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cVerdicts(cases: Case[]): boolean[] {
  const out = execFileSync(driver, { input: cases.map((c) => [c.clientId, c.username, c.password, c.secret].join('\t')).join('\n') + '\n' }).toString();
  return out.trim().split('\n').map((l) => l.startsWith('1 '));
}

function tsVerdict(c: Case): boolean {
  return checkDeviceConnect(
    { clientId: c.clientId, username: c.username, password: Buffer.from(c.password), keepalive: 60 },
    { keepaliveMin: 30, keepaliveMax: 1200, secretOf: () => c.secret },
  ).ok;
}

describe("the plugin's CONNECT check agrees with the embedded broker's", () => {
  it('on valid credentials in every sign method, spelling, signed-content variant and hex case, and on broken ones', () => {
    const cases = fc.sample(fc.oneof(validCase, broken), { numRuns: 600 });
    const c = cVerdicts(cases);
    const mismatches = cases.map((x, i) => ({ ...x, c: c[i], ts: tsVerdict(x) })).filter((x) => x.c !== x.ts || x.ts !== x.valid);
    expect(mismatches).toEqual([]);
  });
});
