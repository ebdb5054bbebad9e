/**
 * What the deployment tests (and bench:footprint) share: running commands with bounds, installing Debian packages
 * they need, the Debian mirror (read at run time, never written down), debootstrapped root filesystems cached under
 * /var/tmp between runs, and a record of what to tear down.
 *
 * Everything here fails loudly: a refused apt-get, a missing tool or a timed-out command throws with the command and
 * the tail of its output. Nothing is skipped.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

/** The checkout: from test/deploy, or from dist/test/deploy when bench:footprint runs the build. */
export const REPO = basename(resolve(__dirname, '..', '..')) === 'dist' ? resolve(__dirname, '..', '..', '..') : resolve(__dirname, '..', '..');
/** Root filesystems and base images kept between runs; a fresh machine builds them (about 45 s each). */
export const CACHE_DIR = process.env.ALINK_DEPLOY_CACHE ?? '/var/tmp/alink-agent-deploy-cache';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const tail = (s: string, n = 40) => s.trimEnd().split('\n').slice(-n).join('\n');

export interface RunOptions extends Omit<SpawnSyncOptions, 'encoding'> {
  /** milliseconds; every command is bounded (default 120 s) */
  timeoutMs?: number;
  /** resolve with the result instead of throwing on a non-zero status */
  allowFail?: boolean;
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command to completion; throws unless it exits 0 (or `allowFail`). */
export function run(cmd: string, args: string[], opts: RunOptions = {}): RunResult {
  const { timeoutMs = 120_000, allowFail = false, ...rest } = opts;
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, ...rest });
  const result = { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', ms: Date.now() - t0 };
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}\n${tail(result.stdout + result.stderr)}`);
  if (r.signal) throw new Error(`${cmd} ${args.join(' ')}: killed by ${r.signal} (limit ${timeoutMs} ms)\n${tail(result.stdout + result.stderr)}`);
  if (r.status !== 0 && !allowFail) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}\n${tail(result.stdout + result.stderr)}`);
  return result;
}

/** `bash -c script`, for pipelines. */
export function sh(script: string, opts: RunOptions = {}): RunResult {
  return run('bash', ['-o', 'pipefail', '-c', script], opts);
}

/** Polls `check` every `everyMs` until it returns a value other than undefined; throws after `timeoutMs`. */
export async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
    await sleep(everyMs);
  }
}

function installedVersion(pkg: string): string | undefined {
  const r = run('dpkg-query', ['-W', '-f=${Status} ${Version}', pkg], { allowFail: true });
  const m = /^install ok installed (\S+)$/.exec(r.stdout.trim());
  return m ? m[1] : undefined;
}

/**
 * Installs the Debian packages missing from this machine (`name` or `name=version`), without recommends. Refused
 * (not root, no archive) is an error.
 */
export function ensurePackages(pkgs: string[]): void {
  const missing = pkgs.filter((p) => {
    const [name, version] = p.split('=') as [string, string | undefined];
    const have = installedVersion(name);
    return have === undefined || (version !== undefined && have !== version);
  });
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`deployment tests need root to install ${missing.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { env, timeoutMs: 300_000 });
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env, timeoutMs: 600_000 });
}

/** The Debian archive this machine uses: the first `URIs:` of its deb822 sources (or of sources.list). */
export function debianMirror(): string {
  const deb822 = '/etc/apt/sources.list.d/debian.sources';
  if (existsSync(deb822)) {
    const m = /^URIs:\s*(\S+)/m.exec(readFileSync(deb822, 'utf8'));
    if (m) return m[1] as string;
  }
  if (existsSync('/etc/apt/sources.list')) {
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/m.exec(readFileSync('/etc/apt/sources.list', 'utf8'));
    if (m) return m[1] as string;
  }
  throw new Error('no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list');
}

/**
 * A tarball of a debootstrapped Debian 12 (minbase plus `include`), prepared by `prepare(rootfs)`, cached as
 * CACHE_DIR/`key`.tar. The key must change whenever what goes in does (the include list, the Node version).
 */
export function cachedRootfsTar(key: string, include: string[], prepare: (rootfs: string) => void): string {
  const tarFile = join(CACHE_DIR, `${key}.tar`);
  if (existsSync(tarFile)) return tarFile;
  mkdirSync(CACHE_DIR, { recursive: true });
  const rootfs = join(CACHE_DIR, `${key}.rootfs-${process.pid}`);
  try {
    const args = ['--variant=minbase', ...(include.length ? [`--include=${include.join(',')}`] : []), 'bookworm', rootfs, debianMirror()];
    run('debootstrap', args, { timeoutMs: 900_000 });
    // Snapshot archives serve Release files past their Valid-Until date.
    sh(`printf 'Acquire::Check-Valid-Until "false";\\n' > ${rootfs}/etc/apt/apt.conf.d/99no-valid-until && rm -rf ${rootfs}/var/cache/apt/archives/*.deb ${rootfs}/var/lib/apt/lists/*_Packages`);
    prepare(rootfs);
    sh(`tar -C ${rootfs} --numeric-owner -cf ${tarFile}.tmp .`, { timeoutMs: 300_000 });
    renameSync(`${tarFile}.tmp`, tarFile);
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
    rmSync(`${tarFile}.tmp`, { force: true });
  }
  return tarFile;
}

/** Copies this machine's Node (binary, npm, npx, headers for node-gyp) into a root filesystem. */
export function copyHostNode(rootfs: string): void {
  const parts = ['usr/bin/node', 'usr/bin/npm', 'usr/bin/npx', 'usr/lib/node_modules/npm', 'usr/include/node'].filter((p) => existsSync(`/${p}`));
  sh(`tar -C / -cf - ${parts.join(' ')} | tar -C ${rootfs} -xf -`);
}

/** A key part that changes with this machine's Node. */
export const nodeKey = () => process.version.replace(/^v/, 'node');

/** Seconds with one decimal, for the lines the tests print. */
export const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** A long-running child started by a test, ended by its pid. */
export interface Child {
  proc: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

export function startChild(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Child {
  const proc = spawn(cmd, args, { cwd: opts.cwd ?? REPO, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, output: () => out, exited };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
export async function stopChild(child: Child | undefined, graceMs = 10_000): Promise<void> {
  if (!child || child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  child.proc.kill('SIGTERM');
  const killer = setTimeout(() => child.proc.kill('SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(killer);
}

/** Mount points at or below `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** Pids whose command line mentions `needle` (a path unique to one test run), for teardown by pid. */
export function pidsMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const d of run('ls', ['/proc']).stdout.split('\n')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(needle)) out.push(Number(d));
    } catch {
      // gone already
    }
  }
  return out;
}
