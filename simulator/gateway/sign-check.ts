/**
 * The sign a gateway sends for a sub-device in `thing.topo.add`, `combine.login` and `combine.batch.login`
 * (docs/protocol/gateway-platform.md, "Signing"): every parameter sent for that sub-device except `sign`, the sign
 * method (either spelling, `signmethod` or `signMethod`) and `cleanSession`, sorted by name, written name + value,
 * HMAC-ed with the sub-device's secret. Any method spelling the SDKs use (hmacSha1, hmacsha256, Sha256, ...), hex in
 * any case.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { parseSignMethod } from '../../thing-model/wire';

const HASH = { hmacsha1: 'sha1', hmacsha256: 'sha256', hmacmd5: 'md5' } as const;
const UNSIGNED = new Set(['sign', 'signmethod', 'signMethod', 'cleanSession']);

export type SignVerdict = { ok: true } | { ok: false; reason: string };

/** `fallbackMethod`: the batch login's one `signMethod` beside `deviceList` (C4, Python), used when the item has none. */
export function checkSubDeviceSign(item: Record<string, unknown>, secret: string, fallbackMethod?: unknown): SignVerdict {
  const given = item.signmethod ?? item.signMethod ?? fallbackMethod;
  const method = typeof given === 'string' ? parseSignMethod(given) : undefined;
  if (!method) return { ok: false, reason: `signmethod: expected hmacSha1, hmacSha256 or hmacMd5 (any case), received ${JSON.stringify(given)}` };
  if (typeof item.sign !== 'string' || item.sign === '') return { ok: false, reason: 'sign: expected a hex HMAC' };
  const content = Object.keys(item)
    .filter((k) => !UNSIGNED.has(k))
    .sort()
    .map((k) => `${k}${String(item[k])}`)
    .join('');
  const expected = Buffer.from(createHmac(HASH[method], secret).update(content).digest('hex'));
  const got = Buffer.from(item.sign.toLowerCase());
  if (expected.length !== got.length || !timingSafeEqual(expected, got)) return { ok: false, reason: `sign: does not verify as ${method}` };
  return { ok: true };
}
