/**
 * A private Docker engine for one test run (Debian's docker.io, started without systemd): its own data root, exec
 * root, pid file and socket under one work folder, no iptables rules, ip_forward untouched. `stop()` ends it by pid
 * and removes what it leaves behind (the netns mount, the docker0 link, the folder).
 *
 * No container registry is reachable from CI machines, so `node:20-bookworm-slim` is made locally when a pull
 * fails: a debootstrapped Debian 12 (minbase) with this machine's Node 20, a `node` user (uid 1000) as in the
 * official image, and this machine's CA bundle (the npm registry may sit behind a TLS-inspecting proxy).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { CACHE_DIR, cachedRootfsTar, copyHostNode, mountsUnder, nodeKey, pidsMentioning, run, sh, sleep, until, type RunOptions, type RunResult } from './support';

export const BASE_IMAGE = 'node:20-bookworm-slim';
/** Debian's client: the docker in /usr/local/bin on these machines is a newer one without buildx. */
const DOCKER = '/usr/bin/docker';
const DOCKERD = '/usr/sbin/dockerd';

export class DockerEngine {
  readonly host: string;
  private pid: number | undefined;
  private createdBridge = false;

  private constructor(readonly dir: string) {
    this.host = `unix://${dir}/docker.sock`;
  }

  /** Starts dockerd and waits (up to 60 s) until it answers. */
  static async start(): Promise<DockerEngine> {
    const engine = new DockerEngine(mkdtempSync('/var/tmp/alink-docker-'));
    const hadBridge = existsSync('/sys/class/net/docker0');
    const d = engine.dir;
    // setsid: dockerd and its containerd get their own session, so nothing the test runner sends reaches them.
    sh(
      `setsid ${DOCKERD} --data-root ${d}/data --exec-root ${d}/exec --pidfile ${d}/dockerd.pid --host ${engine.host} ` +
        `--storage-driver overlay2 --iptables=false --ip-forward=false >${d}/dockerd.log 2>&1 </dev/null & echo $!`,
    );
    await until('dockerd answering', () => {
      if (!existsSync(`${d}/dockerd.pid`)) return undefined;
      return engine.docker(['version', '--format', '{{.Server.Version}}'], { allowFail: true, timeoutMs: 10_000 }).status === 0 ? true : undefined;
    }, 60_000, 250).catch((err: Error) => {
      throw new Error(`${err.message}\ndockerd log:\n${engine.log()}`);
    });
    engine.pid = Number(readFileSync(`${d}/dockerd.pid`, 'utf8').trim());
    engine.createdBridge = !hadBridge && existsSync('/sys/class/net/docker0');
    return engine;
  }

  log(): string {
    try {
      return readFileSync(`${this.dir}/dockerd.log`, 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '(no log)';
    }
  }

  docker(args: string[], opts: RunOptions = {}): RunResult {
    return run(DOCKER, args, { ...opts, env: { ...process.env, DOCKER_HOST: this.host, DOCKER_BUILDKIT: '1', ...(opts.env ?? {}) } });
  }

  /** BASE_IMAGE: pulled when a registry answers, else made from the cached local rootfs. */
  ensureBaseImage(): 'present' | 'pulled' | 'made locally' {
    if (this.docker(['image', 'inspect', BASE_IMAGE], { allowFail: true }).status === 0) return 'present';
    if (this.docker(['pull', BASE_IMAGE], { allowFail: true, timeoutMs: 120_000 }).status === 0) return 'pulled';
    const tar = cachedRootfsTar(`docker-base-bookworm-${nodeKey()}`, [], (rootfs) => {
      copyHostNode(rootfs);
      run('chroot', [rootfs, 'groupadd', '--gid', '1000', 'node']);
      run('chroot', [rootfs, 'useradd', '--uid', '1000', '--gid', 'node', '--shell', '/bin/bash', '--create-home', 'node']);
      sh(`cp /etc/ssl/certs/ca-certificates.crt ${rootfs}/usr/local/share/host-ca-certificates.crt && rm -rf ${rootfs}/usr/share/doc/* ${rootfs}/usr/share/man/*`);
    });
    const tag = `alink-local-base:${nodeKey()}`;
    this.docker(
      [
        'import',
        '--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        '--change', 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/host-ca-certificates.crt',
        '--change', 'ENV npm_config_nodedir=/usr',
        '--change', 'CMD ["node"]',
        tar, tag,
      ],
      { timeoutMs: 300_000 },
    );
    this.docker(['tag', tag, BASE_IMAGE]);
    return 'made locally';
  }

  /** Ends dockerd by pid and removes everything it made. Safe to call twice. */
  async stop(): Promise<void> {
    const d = this.dir;
    if (this.pid !== undefined) {
      try {
        process.kill(this.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && existsSync(`/proc/${this.pid}`)) await sleep(100);
      if (existsSync(`/proc/${this.pid}`)) process.kill(this.pid, 'SIGKILL');
      this.pid = undefined;
    }
    // containerd-shim or a proxy outliving the daemon: only processes started for this engine name its folder
    for (const pid of pidsMentioning(d)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const m of mountsUnder(d)) run('umount', ['-l', m], { allowFail: true });
    if (this.createdBridge && existsSync('/sys/class/net/docker0')) run('ip', ['link', 'delete', 'docker0'], { allowFail: true });
    rmSync(d, { recursive: true, force: true });
  }
}

/** `du -sb` of a folder, in bytes. */
export function bytesOf(dir: string): number {
  return Number(sh(`du -sb ${dir} | cut -f1`).stdout.trim());
}

export { CACHE_DIR };
