/**
 * Check 4: the CA file of an mqtts:// broker. Every PEM certificate in it must parse; one that has expired, or is
 * not valid yet, is a warning: the broker's chain may not need it, but a gateway without a real-time clock that
 * booted in 1970 fails every TLS handshake, and this is where that shows first.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AgentConfig } from '../config/load';
import { errnoCode, fail, ok, skip, warn, type Finding } from './report';

export interface CaOutcome {
  findings: Finding[];
  /** The file's bytes, for the TLS checks; absent without a CA file. */
  ca?: Buffer;
  /** False when the CA file is unusable: the TLS checks would only repeat the failure. */
  usable: boolean;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

function commonName(cert: X509Certificate): string {
  const cn = /^CN=(.*)$/m.exec(cert.subject)?.[1];
  return cn ? `CN=${cn}` : cert.subject.split('\n').join(', ');
}

/** Checks `broker.caFile` at time `now` (epoch ms). */
export function checkCaFile(broker: AgentConfig['broker'], now: number = Date.now()): CaOutcome {
  if (broker.scheme !== 'mqtts') return { findings: [skip('ca file', `not used: broker.url is mqtt:// (no TLS)`)], usable: true };
  const file = broker.caFile;
  if (file === undefined) return { findings: [ok('ca file', "none configured: Node's default CAs verify the broker")], usable: true };
  let ca: Buffer;
  try {
    ca = readFileSync(file);
  } catch (e) {
    return { findings: [fail('ca file', `${file}: expected a readable PEM file (broker.caFile), received ${errnoCode(e)}`)], usable: false };
  }
  const blocks = ca.toString('latin1').match(PEM_CERT) ?? [];
  if (blocks.length === 0) {
    return { findings: [fail('ca file', `${file}: expected PEM certificates (-----BEGIN CERTIFICATE-----), received none in ${ca.length} bytes`)], usable: false };
  }
  const findings: Finding[] = [];
  const names: string[] = [];
  let earliestEnd = Infinity;
  blocks.forEach((pem, i) => {
    const which = blocks.length === 1 ? 'its certificate' : `certificate ${i + 1} of ${blocks.length}`;
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(pem);
    } catch (e) {
      findings.push(fail('ca file', `${file}: ${which} does not parse (${(e as Error).message})`));
      return;
    }
    const name = commonName(cert);
    names.push(name);
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    if (to < now) findings.push(warn('ca file', `${file}: ${which} (${name}) expired on ${new Date(to).toISOString()}`));
    else if (from > now) {
      findings.push(warn('ca file', `${file}: ${which} (${name}) is not valid before ${new Date(from).toISOString()}; is the system clock right (it reads ${new Date(now).toISOString()})?`));
    }
    if (to < earliestEnd) earliestEnd = to;
  });
  if (findings.some((f) => f.status === 'FAIL')) return { findings: findings.filter((f) => f.status === 'FAIL'), usable: false };
  if (findings.length > 0) return { findings, ca, usable: true };
  const until = new Date(earliestEnd).toISOString().slice(0, 10);
  return { findings: [ok('ca file', `${file}: ${blocks.length} certificate${blocks.length === 1 ? '' : 's'} (${names.join('; ')}), valid until ${until}`)], ca, usable: true };
}
