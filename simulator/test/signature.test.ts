/** Both signature schemes against the captured SDK requests (docs/protocol/wire-capture.md, "Cloud OpenAPI SDK: request signatures"). */
import { ApiError } from '../errors';
import { MemoryNonceStore } from '../http/nonce-store';
import { parsePairs } from '../http/params';
import { authenticate, AuthOptions, detectScheme, SignedRequest } from '../http/signature';
import { captureTime, CapturedRequest, loadVectors } from './vectors';

const vectors = loadVectors();

function toSigned(v: CapturedRequest, tweak: Partial<SignedRequest> = {}): SignedRequest {
  const headers = Object.fromEntries(Object.entries(v.headers).map(([k, x]) => [k.toLowerCase(), x]));
  const body = Buffer.from(v.body, 'utf8');
  const isForm = (headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
  return {
    method: v.method,
    path: v.path,
    headers,
    body,
    queryPairs: parsePairs(v.rawQuery, 'query'),
    formPairs: isForm ? parsePairs(v.body, 'body') : [],
    ...tweak,
  };
}

function opts(now: number, nonces = new MemoryNonceStore(1_800_000, 1000)): AuthOptions {
  return { secrets: new Map([['testAK', 'testSecret']]), now: () => now, skewSeconds: 900, nonces };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    if (e instanceof ApiError) return e.code;
    throw e;
  }
}

describe('captured SDK requests verify', () => {
  it('has both schemes for all six APIs', () => {
    expect(vectors).toHaveLength(12);
    expect(new Set(vectors.map((v) => v.scheme))).toEqual(new Set(['ACS3-HMAC-SHA256', 'v2-HMAC-SHA1']));
  });

  it.each(vectors.map((v, i) => [i, v.api, v.scheme, v] as const))('#%i %s [%s]', (_i, api, scheme, v) => {
    const req = toSigned(v);
    const s = detectScheme(req)!;
    expect(s).toBe(scheme);
    const r = authenticate(req, s, opts(captureTime(v)));
    expect(r.accessKeyId).toBe('testAK');
    expect(r.action).toBe(api.split(' ')[0]);
    expect(r.version).toBe('2018-01-20');
  });
});

describe('refusals', () => {
  const acs3Pub = vectors.find((v) => v.api === 'Pub' && v.scheme.startsWith('ACS3'))!;
  const v2Pub = vectors.find((v) => v.api === 'Pub' && v.scheme.startsWith('v2'))!;

  it.each([acs3Pub, v2Pub])('a replayed nonce is SignatureNonceUsed (%#)', (v) => {
    const o = opts(captureTime(v));
    const s = detectScheme(toSigned(v))!;
    expect(codeOf(() => authenticate(toSigned(v), s, o))).toBeUndefined();
    expect(codeOf(() => authenticate(toSigned(v), s, o))).toBe('SignatureNonceUsed');
  });

  it.each([acs3Pub, v2Pub])('a timestamp 16 minutes off is InvalidTimeStamp.Expired, 14 minutes passes (%#)', (v) => {
    const s = detectScheme(toSigned(v))!;
    expect(codeOf(() => authenticate(toSigned(v), s, opts(captureTime(v) + 16 * 60_000)))).toBe('InvalidTimeStamp.Expired');
    expect(codeOf(() => authenticate(toSigned(v), s, opts(captureTime(v) - 16 * 60_000)))).toBe('InvalidTimeStamp.Expired');
    expect(codeOf(() => authenticate(toSigned(v), s, opts(captureTime(v) + 14 * 60_000)))).toBeUndefined();
  });

  it('a changed query value breaks both schemes', () => {
    for (const v of [acs3Pub, v2Pub]) {
      const req = toSigned(v);
      req.queryPairs = req.queryPairs.map(([k, x]) => [k, k === 'Qos' ? '0' : x]);
      expect(codeOf(() => authenticate(req, detectScheme(req)!, opts(captureTime(v))))).toBe('SignatureDoesNotMatch');
    }
  });

  it('a changed form body breaks both schemes (v2 signs MessageContent, ACS3 hashes the body)', () => {
    for (const v of [acs3Pub, v2Pub]) {
      const req = toSigned(v);
      req.body = Buffer.from('MessageContent=AAAA');
      req.formPairs = [['MessageContent', 'AAAA']];
      expect(codeOf(() => authenticate(req, detectScheme(req)!, opts(captureTime(v))))).toBe('SignatureDoesNotMatch');
    }
  });

  it('a changed signed header breaks ACS3', () => {
    const req = toSigned(acs3Pub);
    req.headers = { ...req.headers, host: '127.0.0.1:1' };
    expect(codeOf(() => authenticate(req, 'ACS3-HMAC-SHA256', opts(captureTime(acs3Pub))))).toBe('SignatureDoesNotMatch');
  });

  it('a wrong secret is SignatureDoesNotMatch, an unknown key InvalidAccessKeyId.NotFound', () => {
    for (const v of [acs3Pub, v2Pub]) {
      const o = { ...opts(captureTime(v)), secrets: new Map([['testAK', 'other']]) };
      expect(codeOf(() => authenticate(toSigned(v), detectScheme(toSigned(v))!, o))).toBe('SignatureDoesNotMatch');
      const o2 = { ...opts(captureTime(v)), secrets: new Map([['someoneElse', 'testSecret']]) };
      expect(codeOf(() => authenticate(toSigned(v), detectScheme(toSigned(v))!, o2))).toBe('InvalidAccessKeyId.NotFound');
    }
  });

  it('a bad signature does not burn the nonce', () => {
    const v = acs3Pub;
    const o = opts(captureTime(v));
    const bad = toSigned(v);
    bad.queryPairs = bad.queryPairs.map(([k, x]) => [k, k === 'Qos' ? '0' : x]);
    expect(codeOf(() => authenticate(bad, 'ACS3-HMAC-SHA256', o))).toBe('SignatureDoesNotMatch');
    expect(codeOf(() => authenticate(toSigned(v), 'ACS3-HMAC-SHA256', o))).toBeUndefined();
  });

  it('incomplete ACS3 headers are IncompleteSignature', () => {
    const v = acs3Pub;
    const auth = (v.headers.Authorization ?? '').replace(/Signature=[0-9a-f]+/, '');
    const req = toSigned(v);
    req.headers = { ...req.headers, authorization: auth };
    expect(codeOf(() => authenticate(req, 'ACS3-HMAC-SHA256', opts(captureTime(v))))).toBe('IncompleteSignature');
    const req2 = toSigned(v);
    req2.headers = { ...req2.headers, authorization: (v.headers.Authorization ?? '').replace('x-acs-signature-nonce;', '') };
    expect(codeOf(() => authenticate(req2, 'ACS3-HMAC-SHA256', opts(captureTime(v))))).toBe('IncompleteSignature');
    const req3 = toSigned(v);
    req3.headers = { ...req3.headers, authorization: 'Bearer abc' };
    expect(codeOf(() => authenticate(req3, 'ACS3-HMAC-SHA256', opts(captureTime(v))))).toBe('IncompleteSignature');
  });

  it('a malformed timestamp is InvalidTimeStamp.Format', () => {
    const req = toSigned(v2Pub);
    req.queryPairs = req.queryPairs.map(([k, x]) => [k, k === 'Timestamp' ? 'yesterday' : x]);
    expect(codeOf(() => authenticate(req, 'v2-HMAC-SHA1', opts(captureTime(v2Pub))))).toBe('InvalidTimeStamp.Format');
  });
});

describe('MemoryNonceStore', () => {
  it('expires entries after the ttl and forgets the oldest beyond its size', () => {
    const s = new MemoryNonceStore(1000, 3);
    expect(s.claim('a', 0)).toBe(true);
    expect(s.claim('a', 500)).toBe(false);
    expect(s.claim('a', 1501)).toBe(true);
    for (const k of ['b', 'c', 'd']) s.claim(k, 1600);
    expect(s.size).toBe(3);
    expect(s.claim('a', 1600)).toBe(true);
  });
});
