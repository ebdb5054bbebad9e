/**
 * The doctor over mqtts://: certificates made by openssl in a temp folder, a TLS front (node:tls) relaying to the
 * CloudSimulator's embedded broker, and the CA-file check at chosen clock readings.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { validateConfig } from '../config/load';
import type { CloudSimulator } from '../../simulator/cloud-simulator';
import { startSimulator, TSL_PATH } from '../../test/agent-e2e-support';
import { DEVICE } from '../../test/agent-support';
import { checkCaFile } from './check-ca';
import { runDoctor } from '.';

const { productKey: PK, deviceName: DN, secret: SECRET } = DEVICE;

let sim: CloudSimulator;
let simPort: number;
let front: TlsServer;
let tlsPort: number;
let dir: string;
const sockets = new Set<Socket>();

/** A self-signed certificate for 127.0.0.1 (it is its own CA); returns the PEM file paths. */
function makeCert(name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert],
    { stdio: 'ignore', timeout: 10_000 },
  );
  return { cert, key };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'alink-doctor-tls-'));
  let mqttUrl: string;
  ({ sim, mqttUrl } = await startSimulator());
  simPort = Number(new URL(mqttUrl).port);
  const broker = makeCert('doctor-broker');
  makeCert('doctor-stranger');
  // TLS terminates here and the bytes go on to the embedded broker, as a load balancer in front of one would do.
  front = createTlsServer({ key: readFileSync(broker.key), cert: readFileSync(broker.cert) }, (tlsSock) => {
    const up = netConnect({ host: '127.0.0.1', port: simPort });
    for (const s of [tlsSock, up]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => (tlsSock.destroy(), up.destroy()));
    }
    tlsSock.pipe(up).pipe(tlsSock);
  });
  front.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  tlsPort = (front.address() as { port: number }).port;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => front.close(r));
  await sim.stop();
  rmSync(dir, { recursive: true, force: true });
});

function writeConfig(name: string, broker: Record<string, unknown>): string {
  const file = join(dir, `${name}.config.json`);
  const config = { device: { productKey: PK, deviceName: DN, secretEnv: 'DEVICE_SECRET' }, broker, thingModel: { path: TSL_PATH }, dataDir: `data-${name}` };
  writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  return file;
}

async function doctor(configPath: string): Promise<{ code: number; lines: string[]; line(check: string): string }> {
  let out = '';
  const code = await runDoctor(['--config', configPath], { stdout: (s) => (out += s), stderr: (s) => (out += s) }, { env: { DEVICE_SECRET: SECRET }, connectTimeoutMs: 3000 });
  expect(out).not.toContain(SECRET);
  const lines = out.split('\n').filter(Boolean);
  return { code, lines, line: (check) => lines.find((l) => l.slice(5).startsWith(`${check}: `)) ?? `(no ${check} line in:\n${out})` };
}

describe('alink-agent doctor over mqtts://', () => {
  it('verifies the broker against the CA file and logs in with securemode=2', async () => {
    const online: string[] = [];
    const on = (d: { clientId?: string }) => online.push(d.clientId ?? '');
    sim.on('deviceOnline', on);
    try {
      const run = await doctor(writeConfig('good', { url: `mqtts://127.0.0.1:${tlsPort}`, caFile: 'doctor-broker.pem' }));
      expect(run.code).toBe(0);
      expect(run.line('ca file')).toMatch(new RegExp(`^ok   ca file: ${join(dir, 'doctor-broker.pem')}: 1 certificate \\(CN=doctor-broker\\), valid until \\d{4}-\\d\\d-\\d\\d$`));
      expect(run.line('broker')).toMatch(new RegExp(`^ok   broker: 127\\.0\\.0\\.1:${tlsPort} reachable over TLS \\(certificate verified\\) in \\d+ ms$`));
      expect(run.line('credentials')).toBe(`ok   credentials: CONNACK accepted ${PK}/${DN} (MQTT 3.1.1, hmacsha256, securemode=2); disconnected`);
      expect(online).toEqual([expect.stringMatching(/\|securemode=2,signmethod=hmacsha256,timestamp=\d+\|$/)]);
    } finally {
      sim.off('deviceOnline', on);
    }
  });

  it('a CA that did not sign the broker certificate fails the handshake; the login is skipped', async () => {
    const run = await doctor(writeConfig('stranger', { url: `mqtts://127.0.0.1:${tlsPort}`, caFile: 'doctor-stranger.pem' }));
    expect(run.code).toBe(1);
    expect(run.line('ca file')).toMatch(/^ok {3}ca file: .*CN=doctor-stranger/);
    expect(run.line('broker')).toMatch(
      new RegExp(`^FAIL broker: 127\\.0\\.0\\.1:${tlsPort}: TLS handshake failed: .* \\([A-Z_]+\\); the broker's certificate must verify against broker\\.caFile \\(.*doctor-stranger\\.pem\\) and name "127\\.0\\.0\\.1"$`),
    );
    expect(run.line('credentials')).toBe('skip credentials: the broker is not reachable (see broker)');
  });

  it("without a CA file, Node's default CAs are named when they do not verify the broker", async () => {
    const run = await doctor(writeConfig('defaults', { url: `mqtts://127.0.0.1:${tlsPort}` }));
    expect(run.code).toBe(1);
    expect(run.line('ca file')).toBe("ok   ca file: none configured: Node's default CAs verify the broker");
    expect(run.line('broker')).toMatch(/TLS handshake failed: .*Node's default CAs \(set broker\.caFile\)/);
  });

  it('a CA file without certificates fails; TLS is not tried, TCP still is', async () => {
    const run = await doctor(writeConfig('keyonly', { url: `mqtts://127.0.0.1:${tlsPort}`, caFile: 'doctor-broker.key' }));
    expect(run.code).toBe(1);
    expect(run.line('ca file')).toMatch(/^FAIL ca file: .*doctor-broker\.key: expected PEM certificates \(-----BEGIN CERTIFICATE-----\), received none in \d+ bytes$/);
    expect(run.line('broker')).toMatch(/^ok {3}broker: .* reachable over TCP \(TLS not tried: the CA file is unusable\)/);
    expect(run.line('credentials')).toBe('skip credentials: the CA file is unusable (see ca file)');
  });

  it('a plain MQTT port behind an mqtts:// URL fails the handshake', async () => {
    const run = await doctor(writeConfig('plainport', { url: `mqtts://127.0.0.1:${simPort}`, caFile: 'doctor-broker.pem' }));
    expect(run.code).toBe(1);
    expect(run.line('broker')).toMatch(new RegExp(`^FAIL broker: 127\\.0\\.0\\.1:${simPort}: (TLS handshake failed: .* \\([A-Z_]+\\); is it a TLS port\\?|the TLS handshake did not finish within 3000 ms \\(timeout\\); is it a TLS port\\?)`));
  });
});

describe('the CA file check', () => {
  function broker(caFile: string) {
    return validateConfig(
      { device: { productKey: PK, deviceName: DN, secret: SECRET }, broker: { url: 'mqtts://127.0.0.1:8883', caFile }, thingModel: { path: TSL_PATH } },
      { baseDir: dir },
    ).broker;
  }

  it('warns when a certificate has expired, or is not valid yet (a clock that booted in 1970)', () => {
    const cert = new X509Certificate(readFileSync(join(dir, 'doctor-broker.pem')));
    const file = join(dir, 'doctor-broker.pem');
    const later = Date.parse(cert.validTo) + 86_400_000;
    expect(checkCaFile(broker('doctor-broker.pem'), later).findings).toEqual([
      { status: 'warn', check: 'ca file', text: `${file}: its certificate (CN=doctor-broker) expired on ${new Date(Date.parse(cert.validTo)).toISOString()}` },
    ]);
    const before = checkCaFile(broker('doctor-broker.pem'), 0);
    expect(before.usable).toBe(true);
    expect(before.findings).toEqual([
      {
        status: 'warn',
        check: 'ca file',
        text: `${file}: its certificate (CN=doctor-broker) is not valid before ${new Date(Date.parse(cert.validFrom)).toISOString()}; is the system clock right (it reads 1970-01-01T00:00:00.000Z)?`,
      },
    ]);
    expect(checkCaFile(broker('doctor-broker.pem')).findings[0]?.status).toBe('ok');
  });

  it('names the certificate of a bundle that does not parse', () => {
    const good = readFileSync(join(dir, 'doctor-broker.pem'), 'utf8');
    writeFileSync(join(dir, 'bundle.pem'), `${good}-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n`);
    const r = checkCaFile(broker('bundle.pem'));
    expect(r.usable).toBe(false);
    expect(r.findings).toEqual([{ status: 'FAIL', check: 'ca file', text: expect.stringMatching(new RegExp(`^${join(dir, 'bundle.pem')}: certificate 2 of 2 does not parse \\(.+\\)$`)) }]);
  });
});
