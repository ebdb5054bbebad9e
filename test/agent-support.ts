/**
 * What the agent's integration tests share: a pino logger whose lines the test can read, an Alink-checking
 * authenticate hook for aedes (the platform's rules: signature, identity, one connection per identity), and
 * a throwaway CA with a server certificate made by openssl.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino, { Logger } from 'pino';
import type Aedes from 'aedes';
import type { Client } from 'aedes';
import { parseClientId, signDevice, SignMethod } from '../thing-model/wire';
import { createAgentLogger } from '../agent/config/logger';

export const DEVICE = {
  productKey: 'a1GwDemo01',
  deviceName: 'gw-001',
  secret: '3f6c0a9d27b84e1c95d2a7e41b08c6f3',
} as const;

/** A logger (with the agent's redaction) whose JSON lines the test reads back. */
export interface CapturedLog {
  logger: Logger;
  lines(): Record<string, unknown>[];
  text(): string;
  /** Lines whose `msg` contains `fragment`. */
  find(fragment: string): Record<string, unknown>[];
}

export function captureLog(level: pino.Level = 'debug'): CapturedLog {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const logger = createAgentLogger({ level }, stream);
  const lines = () =>
    chunks
      .join('')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    logger,
    lines,
    text: () => chunks.join(''),
    find: (fragment) => lines().filter((l) => typeof l.msg === 'string' && l.msg.includes(fragment)),
  };
}

/** One CONNECT the broker saw, with the outcome of the signature check. */
export interface SeenConnect {
  at: number;
  clientId: string;
  username: string;
  password: string;
  timestamp: string | undefined;
  signMethod: string | undefined;
  valid: boolean;
}

export interface AlinkAuthOptions {
  secret?: string;
  /** Refuse every CONNECT with this CONNACK return code (4 = bad username or password). */
  refuseWith?: 4 | 5;
  /** The platform's rule (docs/protocol/connecting.md, "Logging in twice"): a new login with the same identity closes the older one. */
  kickDuplicates?: boolean;
}

/** Client ids of the test's own "cloud" clients, which log in without Alink credentials. */
export const CLOUD_CLIENT_PREFIX = 'cloud-';

/** Installs an Alink authenticate hook on an aedes broker and returns what it saw. */
export function alinkAuth(aedes: Aedes, opts: AlinkAuthOptions = {}): SeenConnect[] {
  const seen: SeenConnect[] = [];
  const byIdentity = new Map<string, Client>();
  aedes.authenticate = (client, username, password, done) => {
    if (client.id.startsWith(CLOUD_CLIENT_PREFIX)) return done(null, true);
    const pwd = password?.toString() ?? '';
    const parsed = parseClientId(client.id);
    const [dn, pk] = (username ?? '').split('&');
    const method = parsed?.params.signmethod as SignMethod | undefined;
    let valid = false;
    if (parsed && pk && dn && method && ['hmacsha1', 'hmacsha256', 'hmacmd5'].includes(method)) {
      const expected = signDevice({
        productKey: pk,
        deviceName: dn,
        deviceSecret: opts.secret ?? DEVICE.secret,
        clientId: parsed.cid,
        timestamp: parsed.params.timestamp,
        signMethod: method,
      });
      valid = expected === pwd.toLowerCase();
    }
    seen.push({ at: Date.now(), clientId: client.id, username: username ?? '', password: pwd, timestamp: parsed?.params.timestamp, signMethod: method, valid });
    if (opts.refuseWith || !valid) {
      const err = Object.assign(new Error('refused'), { returnCode: opts.refuseWith ?? 4 });
      return done(err as never, false);
    }
    if (opts.kickDuplicates && username) {
      const older = byIdentity.get(username);
      if (older && older !== client && !older.closed) older.close();
      byIdentity.set(username, client);
    }
    done(null, true);
  };
  return seen;
}

/** A CA and a server certificate for 127.0.0.1 and localhost (subjectAltName), in a fresh temp folder. */
export function makeTlsFiles(): { dir: string; caFile: string; certFile: string; keyFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'agent-tls-'));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=agent test CA');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext');
  // mosquitto started as root drops to its own user, which must be able to read these.
  chmodSync(dir, 0o755);
  for (const f of ['ca.pem', 'server.pem', 'server.key']) chmodSync(join(dir, f), 0o644);
  return { dir, caFile: join(dir, 'ca.pem'), certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key') };
}

/** Another CA, unrelated to the server certificate. */
export function makeOtherCa(dir: string): string {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other.key', '-out', 'other.pem', '-days', '2', '-subj', '/CN=some other CA'], {
    cwd: dir,
    stdio: 'pipe',
  });
  return join(dir, 'other.pem');
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Standard output and error for the CLI's `main(argv, io)`, kept for assertions. */
export function bufferIo() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } }, out: () => out.join(''), err: () => err.join('') };
}
