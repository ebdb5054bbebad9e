/**
 * Alink device authentication for the embedded broker (docs/protocol/sdk-compat.md): the clientId carries
 * `{cid}|securemode=..,signmethod=..,timestamp=..|`, the username is `{dn}&{pk}`, the password is the hex HMAC
 * (case-insensitive) of `clientId{cid}deviceName{dn}productKey{pk}[timestamp{ts}]` keyed by the device secret.
 */
import { timingSafeEqual } from 'node:crypto';
import { parseClientId, parseSignMethod, signDevice, SignMethod, SIGN_METHODS } from '../../thing-model/wire';

export type ConnectOutcome =
  | { ok: true; productKey: string; deviceName: string; cid: string; params: Record<string, string>; keepalive: number }
  | { ok: false; returnCode: 2 | 3 | 4 | 5; reason: string };

export interface ConnectInput {
  clientId: string;
  username?: string;
  password?: Buffer;
  keepalive: number;
}

export interface ConnectRules {
  keepaliveMin: number;
  keepaliveMax: number;
  secretOf(productKey: string, deviceName: string): string | undefined;
  /** DisableThing: a disabled device may not connect (checked once its signature verifies). */
  disabled?(productKey: string, deviceName: string): boolean;
}

const MAX_CID = 64;

function sameHex(expected: string, given: string): boolean {
  const a = Buffer.from(expected.toLowerCase());
  const b = Buffer.from(given.toLowerCase());
  return a.length === b.length && timingSafeEqual(a, b);
}

export function checkDeviceConnect(input: ConnectInput, rules: ConnectRules): ConnectOutcome {
  const parsed = parseClientId(input.clientId);
  if (!parsed) {
    return { ok: false, returnCode: 2, reason: 'clientId: expected {cid}|securemode=..,signmethod=..,timestamp=..|' };
  }
  if (parsed.cid.length > MAX_CID) return { ok: false, returnCode: 2, reason: `clientId: expected a cid of at most ${MAX_CID} characters, received ${parsed.cid.length}` };
  const secureMode = parsed.params.securemode;
  if (secureMode !== undefined && secureMode !== '2' && secureMode !== '3') {
    return { ok: false, returnCode: 2, reason: `clientId securemode: expected 2 or 3, received "${secureMode}"` };
  }
  // The documented default when signmethod is absent is hmacmd5; any spelling of a method counts (hmacSha256, sha256).
  const given = parsed.params.signmethod;
  const signMethod: SignMethod | undefined = given === undefined ? 'hmacmd5' : parseSignMethod(given);
  if (!signMethod) {
    return { ok: false, returnCode: 4, reason: `clientId signmethod: expected one of ${SIGN_METHODS.join(', ')} (any case), received "${given}"` };
  }
  if (input.keepalive < rules.keepaliveMin) {
    return { ok: false, returnCode: 3, reason: `keepalive: expected at least ${rules.keepaliveMin} s, received ${input.keepalive}` };
  }
  const username = input.username ?? '';
  const amp = username.indexOf('&');
  if (amp <= 0 || amp === username.length - 1) return { ok: false, returnCode: 4, reason: 'username: expected {deviceName}&{productKey}' };
  const deviceName = username.slice(0, amp);
  const productKey = username.slice(amp + 1);
  const secret = rules.secretOf(productKey, deviceName);
  if (secret === undefined) return { ok: false, returnCode: 4, reason: `no such device ${productKey}/${deviceName}` };
  // clientId and timestamp are optional in the signed content, but when present they must be the clientId's values.
  const password = input.password?.toString('utf8') ?? '';
  const variants: { clientId?: string; timestamp?: string }[] = [
    { clientId: parsed.cid, timestamp: parsed.params.timestamp },
    { timestamp: parsed.params.timestamp },
    { clientId: parsed.cid },
    {},
  ];
  const verified = variants.some((v) =>
    sameHex(signDevice({ productKey, deviceName, deviceSecret: secret, signMethod, ...v }), password),
  );
  if (!verified) return { ok: false, returnCode: 4, reason: `password: does not verify as ${signMethod} for ${productKey}/${deviceName}` };
  if (rules.disabled?.(productKey, deviceName)) return { ok: false, returnCode: 5, reason: `device ${productKey}/${deviceName} is disabled` };
  return {
    ok: true,
    productKey,
    deviceName,
    cid: parsed.cid,
    params: parsed.params,
    keepalive: Math.min(input.keepalive, rules.keepaliveMax),
  };
}
