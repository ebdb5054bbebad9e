/**
 * Checks the two signature schemes the official SDK produces (ACS3-HMAC-SHA256 and the legacy v2 HMAC-SHA1;
 * docs/protocol/wire-capture.md, "Cloud OpenAPI SDK: request signatures"), then the timestamp window and the nonce. Checks run in the platform's order: access key,
 * timestamp, signature, nonce (a request with a bad signature does not burn its nonce).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ApiErrors } from '../errors';
import { canonicalQuery, Pair, percentEncode } from './params';
import type { NonceStore } from './nonce-store';

export type SignatureScheme = 'ACS3-HMAC-SHA256' | 'v2-HMAC-SHA1';

export interface SignedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  queryPairs: Pair[];
  /** Decoded x-www-form-urlencoded body fields; empty for other bodies. */
  formPairs: Pair[];
}

export interface AuthOptions {
  secrets: ReadonlyMap<string, string>;
  now: () => number;
  skewSeconds: number;
  nonces: NonceStore;
}

export interface AuthResult {
  scheme: SignatureScheme;
  accessKeyId: string;
  action: string;
  version: string;
}

const ACS3 = 'ACS3-HMAC-SHA256';
const TIMESTAMP_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,3})?Z$/;

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function sha256hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function pairValue(pairs: Pair[], name: string): string | undefined {
  return pairs.find(([k]) => k === name)?.[1];
}

/** Which scheme a request claims, or undefined when it carries no signature at all. */
export function detectScheme(req: SignedRequest): SignatureScheme | undefined {
  const auth = header(req.headers, 'authorization');
  if (auth !== undefined) return ACS3;
  if (req.queryPairs.some(([k]) => k === 'Signature')) return 'v2-HMAC-SHA1';
  return undefined;
}

/** Action and API version the request names, before it is authenticated (so an unknown action answers 404). */
export function requestedAction(req: SignedRequest, scheme: SignatureScheme): { action?: string; version?: string } {
  if (scheme === ACS3) return { action: header(req.headers, 'x-acs-action'), version: header(req.headers, 'x-acs-version') };
  return { action: pairValue(req.queryPairs, 'Action'), version: pairValue(req.queryPairs, 'Version') };
}

function checkTimestamp(name: string, value: string | undefined, opts: AuthOptions): void {
  if (value === undefined) throw ApiErrors.missingParameter(name);
  const m = TIMESTAMP_RE.exec(value);
  const t = m ? Date.parse(value) : NaN;
  if (Number.isNaN(t)) throw ApiErrors.timestampFormat(name, value);
  if (Math.abs(opts.now() - t) > opts.skewSeconds * 1000) throw ApiErrors.timestampExpired(name, value, opts.skewSeconds);
}

function claimNonce(accessKeyId: string, nonce: string, opts: AuthOptions): void {
  if (!opts.nonces.claim(`${accessKeyId}\n${nonce}`, opts.now())) throw ApiErrors.nonceUsed(nonce);
}

function verifyAcs3(req: SignedRequest, opts: AuthOptions): AuthResult {
  const auth = header(req.headers, 'authorization') ?? '';
  const space = auth.indexOf(' ');
  const algorithm = space > 0 ? auth.slice(0, space) : auth;
  // The received header is not echoed: it may carry someone's credentials.
  if (algorithm !== ACS3) throw ApiErrors.incompleteSignature(`Authorization: expected algorithm ${ACS3}, received another scheme`);
  const fields = new Map<string, string>();
  for (const part of auth.slice(space + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const accessKeyId = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const given = fields.get('Signature');
  for (const [name, v] of [['Credential', accessKeyId], ['SignedHeaders', signedHeaders], ['Signature', given]] as const) {
    if (!v) throw ApiErrors.incompleteSignature(`Authorization: expected a ${name}= field, received none`);
  }
  const action = header(req.headers, 'x-acs-action') ?? '';
  const version = header(req.headers, 'x-acs-version') ?? '';
  const secret = opts.secrets.get(accessKeyId!);
  if (secret === undefined) throw ApiErrors.accessKeyNotFound(accessKeyId!);

  checkTimestamp('x-acs-date', header(req.headers, 'x-acs-date'), opts);
  const nonce = header(req.headers, 'x-acs-signature-nonce');
  if (!nonce) throw ApiErrors.missingParameter('x-acs-signature-nonce');

  const names = signedHeaders!.split(';');
  const mustSign = Object.keys(req.headers).filter((h) => h === 'host' || h.startsWith('x-acs-'));
  for (const h of ['host', 'x-acs-date', 'x-acs-signature-nonce', 'x-acs-content-sha256', ...mustSign]) {
    if (!names.includes(h)) throw ApiErrors.incompleteSignature(`SignedHeaders: expected it to include ${h}, received "${signedHeaders}"`);
  }
  const hashedPayload = sha256hex(req.body);
  if (header(req.headers, 'x-acs-content-sha256') !== hashedPayload) {
    throw ApiErrors.signatureMismatch('x-acs-content-sha256 is not the SHA-256 of the request body');
  }
  let canonicalHeaders = '';
  for (const h of names) {
    const v = header(req.headers, h);
    if (v === undefined) throw ApiErrors.incompleteSignature(`SignedHeaders names ${h}, which the request does not carry`);
    canonicalHeaders += `${h}:${v.trim()}\n`;
  }
  const canonicalRequest = [req.method, req.path, canonicalQuery(req.queryPairs), canonicalHeaders, signedHeaders, hashedPayload].join('\n');
  const stringToSign = `${ACS3}\n${sha256hex(canonicalRequest)}`;
  const expected = createHmac('sha256', secret).update(stringToSign, 'utf8').digest('hex');
  if (!sameText(expected, given!.toLowerCase())) throw ApiErrors.signatureMismatch(`the ${ACS3} signature does not verify with the secret of ${accessKeyId}`);
  claimNonce(accessKeyId!, nonce, opts);
  return { scheme: ACS3, accessKeyId: accessKeyId!, action, version };
}

function verifyV2(req: SignedRequest, opts: AuthOptions): AuthResult {
  const q = req.queryPairs;
  const given = pairValue(q, 'Signature') ?? '';
  const method = pairValue(q, 'SignatureMethod');
  if (method !== 'HMAC-SHA1') throw ApiErrors.incompleteSignature(`SignatureMethod: expected HMAC-SHA1, received ${JSON.stringify(method ?? null)}`);
  const sigVersion = pairValue(q, 'SignatureVersion');
  if (sigVersion !== '1.0') throw ApiErrors.incompleteSignature(`SignatureVersion: expected 1.0, received ${JSON.stringify(sigVersion ?? null)}`);
  const accessKeyId = pairValue(q, 'AccessKeyId');
  if (!accessKeyId) throw ApiErrors.missingParameter('AccessKeyId');
  const secret = opts.secrets.get(accessKeyId);
  if (secret === undefined) throw ApiErrors.accessKeyNotFound(accessKeyId);
  checkTimestamp('Timestamp', pairValue(q, 'Timestamp'), opts);
  const nonce = pairValue(q, 'SignatureNonce');
  if (!nonce) throw ApiErrors.missingParameter('SignatureNonce');

  const canonical = canonicalQuery([...q.filter(([k]) => k !== 'Signature'), ...req.formPairs]);
  const stringToSign = `${req.method}&${percentEncode('/')}&${percentEncode(canonical)}`;
  const expected = createHmac('sha1', `${secret}&`).update(stringToSign, 'utf8').digest('base64');
  if (!sameText(expected, given)) throw ApiErrors.signatureMismatch(`the HMAC-SHA1 Signature does not verify with the secret of ${accessKeyId}`);
  claimNonce(accessKeyId, nonce, opts);
  return {
    scheme: 'v2-HMAC-SHA1',
    accessKeyId,
    action: pairValue(q, 'Action') ?? '',
    version: pairValue(q, 'Version') ?? '',
  };
}

/** Authenticates a request or throws the platform's ApiError. */
export function authenticate(req: SignedRequest, scheme: SignatureScheme, opts: AuthOptions): AuthResult {
  return scheme === ACS3 ? verifyAcs3(req, opts) : verifyV2(req, opts);
}
