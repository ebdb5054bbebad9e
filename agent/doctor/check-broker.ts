/**
 * Check 5: the broker answers at all, TCP (or TCP then TLS for mqtts://) and nothing more. Kept apart from the
 * credentials check so that "cannot reach it" and "it refuses me" never read alike.
 */
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { AgentConfig } from '../config/load';
import { errnoCode, fail, ok, type Finding } from './report';

export interface BrokerProbeOptions {
  timeoutMs: number;
  /** The CA file's bytes; without them Node's default CAs apply, as in the session. */
  ca?: Buffer;
  /** Whether to attempt the TLS handshake of an mqtts:// broker (false when the CA file is unusable). */
  tls: boolean;
}

export interface BrokerOutcome {
  findings: Finding[];
  reachable: boolean;
}

/** `host:port`, with IPv6 addresses bracketed. */
export function hostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** OpenSSL's certificate verification failures, as opposed to a peer that does not speak TLS at all. */
const CERT_ERROR = /^(CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_|ERR_TLS_CERT_|HOSTNAME_MISMATCH|INVALID_CA|INVALID_PURPOSE|PATH_LENGTH_EXCEEDED)/;

type Probe = { ok: true; ms: number } | { ok: false; err?: Error; tcpUp: boolean; timedOut: boolean };

function probe(broker: AgentConfig['broker'], o: BrokerProbeOptions, useTls: boolean): Promise<Probe> {
  return new Promise((resolve) => {
    const started = Date.now();
    let tcpUp = false;
    let done = false;
    const socket: Socket = useTls
      ? tlsConnect({
          host: broker.host,
          port: broker.port,
          ...(isIP(broker.host) ? {} : { servername: broker.host }),
          ...(o.ca ? { ca: o.ca } : {}),
          rejectUnauthorized: true,
        })
      : netConnect({ host: broker.host, port: broker.port });
    const finish = (p: Probe) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(p);
    };
    const timer = setTimeout(() => finish({ ok: false, tcpUp, timedOut: true }), o.timeoutMs);
    socket.once('connect', () => {
      tcpUp = true;
      if (!useTls) finish({ ok: true, ms: Date.now() - started });
    });
    if (useTls) socket.once('secureConnect', () => finish({ ok: true, ms: Date.now() - started }));
    socket.on('error', (err) => finish({ ok: false, err, tcpUp, timedOut: false }));
  });
}

function failure(broker: AgentConfig['broker'], p: Extract<Probe, { ok: false }>, o: BrokerProbeOptions, useTls: boolean): string {
  const where = hostPort(broker.host, broker.port);
  if (p.timedOut) {
    return p.tcpUp
      ? `${where}: the TLS handshake did not finish within ${o.timeoutMs} ms (timeout); is it a TLS port?`
      : `${where} did not answer within ${o.timeoutMs} ms (timeout); check broker.url, the network and firewalls`;
  }
  const code = errnoCode(p.err);
  const message = p.err?.message ?? 'connection failed';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL' || code === 'EAI_NONAME') {
    return `cannot resolve host "${broker.host}" (DNS ${code}); check broker.url and the resolver`;
  }
  if (code === 'ECONNREFUSED') return `${where} refused the connection (ECONNREFUSED): nothing listens there; check broker.url`;
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return `${where} is unreachable (${code}); check the network and routes`;
  if (code === 'ETIMEDOUT') return `${where} did not answer (ETIMEDOUT); check broker.url, the network and firewalls`;
  if (useTls && p.tcpUp) {
    if (CERT_ERROR.test(code)) {
      const against = broker.caFile ? `broker.caFile (${broker.caFile})` : "Node's default CAs (set broker.caFile)";
      return `${where}: TLS handshake failed: ${message} (${code}); the broker's certificate must verify against ${against} and name "${broker.host}"`;
    }
    return `${where}: TLS handshake failed: ${message} (${code}); is it a TLS port? (mqtts:// needs one; mqtt:// is plain TCP)`;
  }
  return `${where}: ${message} (${code})`;
}

/** Connects to the broker (TLS for mqtts:// when `tls`), closes at once, and reports how that went. */
export async function checkBroker(broker: AgentConfig['broker'], o: BrokerProbeOptions): Promise<BrokerOutcome> {
  const useTls = broker.scheme === 'mqtts' && o.tls;
  const p = await probe(broker, o, useTls);
  if (!p.ok) return { findings: [fail('broker', failure(broker, p, o, useTls))], reachable: false };
  const how = useTls ? 'over TLS (certificate verified)' : broker.scheme === 'mqtts' ? 'over TCP (TLS not tried: the CA file is unusable)' : 'over TCP';
  return { findings: [ok('broker', `${hostPort(broker.host, broker.port)} reachable ${how} in ${p.ms} ms`)], reachable: true };
}
