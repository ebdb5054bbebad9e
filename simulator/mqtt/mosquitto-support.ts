/**
 * What managed mode needs on the machine, and the build of its mosquitto plugin: mosquitto 2.0, its plugin
 * headers (Debian `mosquitto-dev`, `libmosquitto-dev`), OpenSSL's (`libssl-dev`) and a C compiler. The plugin is
 * compiled from `simulator/mosquitto-plugin/*.c` on first use into that folder's `build/` (never committed; a
 * temp folder where the sources are read-only),
 * named by a hash of its sources, so a changed source is rebuilt and concurrent starts share one build.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const HEADERS = ['/usr/include/mosquitto_broker.h', '/usr/include/mosquitto.h', '/usr/include/openssl/hmac.h'];
const INSTALL_HINT = 'apt-get install -y mosquitto mosquitto-dev libmosquitto-dev libssl-dev gcc';

function which(name: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Where mosquitto is installed, or undefined. */
export function findMosquitto(): string | undefined {
  return ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p)) ?? which('mosquitto');
}

/** The plugin's sources: next to this file's folder (ts-jest) or back in the repository (dist/). */
function pluginSourceDir(): string {
  const candidates = [join(__dirname, '..', 'mosquitto-plugin'), join(__dirname, '..', '..', '..', 'simulator', 'mosquitto-plugin')];
  const dir = candidates.find((d) => existsSync(join(d, 'plugin.c')));
  if (!dir) throw new Error(`the mosquitto plugin sources are missing (looked in ${candidates.join(', ')})`);
  return dir;
}

export type ManagedSupport = { ok: true; mosquitto: string; cc: string } | { ok: false; why: string };

/** Whether managed mode can run here; `why` names what is missing and how to install it. */
export function managedSupport(): ManagedSupport {
  const mosquitto = findMosquitto();
  if (!mosquitto) return { ok: false, why: `mosquitto is not installed (${INSTALL_HINT})` };
  const missing = HEADERS.filter((h) => !existsSync(h));
  if (missing.length) return { ok: false, why: `missing ${missing.join(', ')} (${INSTALL_HINT})` };
  const cc = which('cc') ?? which('gcc');
  if (!cc) return { ok: false, why: `no C compiler (${INSTALL_HINT})` };
  return { ok: true, mosquitto, cc };
}

/** Builds the plugin if needed; resolves with the path of the shared object. */
export async function buildPlugin(cc: string): Promise<string> {
  const dir = pluginSourceDir();
  const sources = readdirSync(dir).filter((f) => f.endsWith('.c') || f.endsWith('.h')).sort();
  const hash = createHash('sha256');
  for (const f of sources) hash.update(f).update(readFileSync(join(dir, f)));
  const name = `alink-${hash.digest('hex').slice(0, 12)}.so`;
  const buildDir = writableBuildDir(join(dir, 'build'));
  const out = join(buildDir, name);
  if (existsSync(out)) return out;
  const tmp = `${out}.${process.pid}.${Date.now()}.tmp`;
  const cfiles = sources.filter((f) => f.endsWith('.c')).map((f) => join(dir, f));
  try {
    await run(cc, ['-shared', '-fPIC', '-O2', '-Wall', '-o', tmp, ...cfiles, '-lcrypto'], { timeout: 120_000 });
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`building the mosquitto plugin failed: ${(err.stderr ?? err.message).trim().split('\n').slice(-5).join(' | ')}`);
  }
  // rename is atomic: a concurrent build of the same sources just replaces an identical file.
  renameSync(tmp, out);
  // Builds of older sources go (a running mosquitto keeps its mapped copy).
  for (const f of readdirSync(buildDir)) {
    if (/^alink-[0-9a-f]{12}\.so$/.test(f) && f !== name) rmSync(join(buildDir, f), { force: true });
  }
  return out;
}

/** The sources' `build/` folder, or one under the system temp folder where the sources are read-only. */
function writableBuildDir(preferred: string): string {
  for (const d of [preferred, join(tmpdir(), `alink-sim-plugin-${userInfo().uid}`)]) {
    try {
      mkdirSync(d, { recursive: true });
      accessSync(d, constants.W_OK);
      return d;
    } catch {
      // next candidate
    }
  }
  throw new Error(`no writable folder to build the mosquitto plugin in (tried ${preferred} and the temp folder)`);
}
