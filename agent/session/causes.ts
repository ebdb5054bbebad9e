/**
 * Why a connection attempt failed or a connection ended, in the few classes an operator acts on differently.
 */

/**
 * - `auth`: the broker refused the credentials (CONNACK 4/5, MQTT 5 0x86/0x87/0x8C): check the secret and sign method.
 * - `kicked`: another client logged in with the same identity (MQTT 5 DISCONNECT 0x8E, or repeated server-side
 *   disconnects soon after CONNACK, docs/protocol/connecting.md, "Logging in twice").
 * - `refused`: any other CONNACK refusal (bad protocol version, identifier rejected, server unavailable, ...).
 * - `tls`: the broker's certificate did not verify against the configured CA.
 * - `timeout`: no CONNACK within connectTimeoutMs, or the keepalive expired.
 * - `network`: the TCP connection could not be made or was lost.
 * - `server`: the broker closed the connection with an MQTT 5 DISCONNECT reason other than a takeover.
 */
export type DisconnectCause = 'auth' | 'kicked' | 'refused' | 'tls' | 'timeout' | 'network' | 'server';

/** MQTT 3.1.1 CONNACK return codes (spec §3.2.2.3) and MQTT 5 CONNACK reason codes that mean "bad credentials". */
const AUTH_CODES_V4 = new Set([4, 5]);
const AUTH_CODES_V5 = new Set([0x86, 0x87, 0x8c]);
/** MQTT 5 DISCONNECT: Session taken over. */
export const SESSION_TAKEN_OVER = 0x8e;

const TLS_ERROR_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_|HOSTNAME_MISMATCH|ERR_OSSL)/;

/** True when a connack error code is an MQTT return/reason code (a number) rather than a socket errno (a string). */
function reasonCodeOf(err: Error): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/** Classifies an error MQTT.js emitted during an attempt. */
export function classifyError(err: Error, protocolVersion: 4 | 5): DisconnectCause {
  const rc = reasonCodeOf(err);
  if (rc !== undefined && err.message.startsWith('Connection refused')) {
    return (protocolVersion === 5 ? AUTH_CODES_V5 : AUTH_CODES_V4).has(rc) ? 'auth' : 'refused';
  }
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && TLS_ERROR_CODES.test(code)) return 'tls';
  if (err.message === 'TLS not authorized') return 'tls';
  if (err.message === 'connack timeout' || err.message === 'Keepalive timeout') return 'timeout';
  return 'network';
}

/** What the operator should read in the log for each cause. */
export function describeCause(cause: DisconnectCause): string {
  switch (cause) {
    case 'auth':
      return 'the broker refused the credentials; check device.productKey/deviceName, the secret and broker.signMethod';
    case 'kicked':
      return 'another client logged in with this device identity (duplicate login); backing off';
    case 'refused':
      return 'the broker refused the connection';
    case 'tls':
      return "the broker's certificate did not verify against broker.caFile";
    case 'timeout':
      return 'the broker did not answer in time';
    case 'network':
      return 'the connection to the broker could not be made or was lost';
    case 'server':
      return 'the broker closed the connection';
  }
}
