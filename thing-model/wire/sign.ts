import { createHmac } from 'node:crypto';

/** HMAC algorithms the platform accepts for the device password (docs/protocol/connecting.md, "Connect fields"). */
export type SignMethod = 'hmacsha1' | 'hmacsha256' | 'hmacmd5';

export const SIGN_METHODS: readonly SignMethod[] = ['hmacsha1', 'hmacsha256', 'hmacmd5'];

/**
 * The sign method a clientId's `signmethod=` names, whatever its spelling: the SDKs write it lower-case, the
 * docs also `hmacSha256`/`HmacSHA1`, and one revision plain `sha256` (docs/protocol/sdk-compat.md §1).
 * Undefined for anything else.
 */
export function parseSignMethod(text: string): SignMethod | undefined {
  const t = text.toLowerCase();
  const name = t.startsWith('hmac') ? t : `hmac${t}`;
  return (SIGN_METHODS as readonly string[]).includes(name) ? (name as SignMethod) : undefined;
}

const HASH: Record<SignMethod, string> = { hmacsha1: 'sha1', hmacsha256: 'sha256', hmacmd5: 'md5' };

/** The inputs of one device signature. `clientId` and `timestamp` are signed only when present. */
export interface SignInput {
  productKey: string;
  deviceName: string;
  deviceSecret: string;
  clientId?: string;
  timestamp?: string | number;
  signMethod: SignMethod;
}

/**
 * The signed content: each present parameter's name then value, in alphabetical order of names
 * (clientId, deviceName, productKey, timestamp).
 */
export function signContent(input: Omit<SignInput, 'deviceSecret' | 'signMethod'>): string {
  let s = '';
  if (input.clientId !== undefined) s += `clientId${input.clientId}`;
  s += `deviceName${input.deviceName}productKey${input.productKey}`;
  if (input.timestamp !== undefined) s += `timestamp${input.timestamp}`;
  return s;
}

/** Lower-case hex HMAC of the signed content, keyed by the device secret. */
export function signDevice(input: SignInput): string {
  return createHmac(HASH[input.signMethod], input.deviceSecret).update(signContent(input)).digest('hex');
}

/** MQTT CONNECT credentials for one connection attempt. */
export interface ConnectCredentials {
  clientId: string;
  username: string;
  password: string;
}

export interface CredentialInput {
  productKey: string;
  deviceName: string;
  deviceSecret: string;
  signMethod: SignMethod;
  /** The `{cid}` part; defaults to `{productKey}.{deviceName}`. */
  clientId?: string;
  /** 2 = TLS, 3 = plain TCP. */
  secureMode: 2 | 3;
  /** Epoch ms; a fresh one on every connect attempt. */
  timestamp: number;
  /** Extra `key=value` parameters inside the `|...|` block, e.g. `{ ext: '1' }` for custom-topic RRPC. */
  extra?: Record<string, string>;
}

/** Builds the Alink clientId, username and password (docs/protocol/connecting.md, "Connect fields", vectors in "Test vectors"). */
export function buildCredentials(input: CredentialInput): ConnectCredentials {
  const cid = input.clientId ?? `${input.productKey}.${input.deviceName}`;
  const params: string[] = [
    `securemode=${input.secureMode}`,
    `signmethod=${input.signMethod}`,
    `timestamp=${input.timestamp}`,
  ];
  for (const [k, v] of Object.entries(input.extra ?? {})) params.push(`${k}=${v}`);
  return {
    clientId: `${cid}|${params.join(',')}|`,
    username: `${input.deviceName}&${input.productKey}`,
    password: signDevice({
      productKey: input.productKey,
      deviceName: input.deviceName,
      deviceSecret: input.deviceSecret,
      clientId: cid,
      timestamp: input.timestamp,
      signMethod: input.signMethod,
    }),
  };
}

/** A parsed Alink MQTT client id: the free `{cid}` and the `key=value` parameters between the bars. */
export interface ParsedClientId {
  cid: string;
  params: Record<string, string>;
}

/** Parses `{cid}|k=v,k=v|`; returns undefined when the id has no parameter block. */
export function parseClientId(mqttClientId: string): ParsedClientId | undefined {
  const first = mqttClientId.indexOf('|');
  if (first < 0 || !mqttClientId.endsWith('|') || first === mqttClientId.length - 1) return undefined;
  const cid = mqttClientId.slice(0, first);
  const block = mqttClientId.slice(first + 1, -1);
  const params: Record<string, string> = {};
  for (const part of block.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    params[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return { cid, params };
}
