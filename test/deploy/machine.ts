/**
 * A Debian 12 machine booted under systemd-nspawn with a real systemd 252 as PID 1, its own loopback only
 * (--private-network) and a pure cgroup2 hierarchy. Commands run inside through nsenter into PID 1's namespaces
 * (machined is not needed); `netns()` runs a program of THIS host's filesystem inside the machine's network
 * namespace, which is how the simulator and the cloud SDK reach the agent on the machine's 127.0.0.1.
 *
 * Quirks of these hosts (no systemd as PID 1): /run is not a tmpfs, so /run/systemd/nspawn gets one; nspawn
 * needs --keep-unit --register=no, or it looks for a system bus that is not there.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mountsUnder, run, sh, sleep, startChild, stopChild, until, type Child, type RunOptions, type RunResult } from './support';

const INSIDE_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', SYSTEMD_PAGER: '', SYSTEMD_COLORS: '0' };
const CGROUPS = ['/sys/fs/cgroup/unified', '/sys/fs/cgroup/systemd'];

export class Machine {
  private nspawn: Child | undefined;
  private pid1 = 0;
  private mountedNspawnRun = false;
  private readonly cgroupDirs: string[] = [];

  private constructor(
    readonly dir: string,
    readonly name: string,
  ) {}

  get rootfs(): string {
    return join(this.dir, 'rootfs');
  }

  /** Unpacks `rootfsTar` and boots it; resolves once `systemctl is-system-running` says running (or degraded). */
  static async boot(rootfsTar: string): Promise<Machine> {
    const m = new Machine(mkdtempSync('/var/tmp/alink-nspawn-'), `alink-test-${process.pid}`);
    mkdirSync(m.rootfs);
    sh(`tar -C ${m.rootfs} --numeric-owner -xf ${rootfsTar}`, { timeoutMs: 300_000 });
    const fsType = run('stat', ['-f', '-c', '%T', '/run/systemd/nspawn'], { allowFail: true });
    if (fsType.status !== 0 || fsType.stdout.trim() !== 'tmpfs') {
      mkdirSync('/run/systemd/nspawn', { recursive: true });
      run('mount', ['-t', 'tmpfs', 'tmpfs', '/run/systemd/nspawn']);
      m.mountedNspawnRun = true;
    }
    // nspawn in a cgroup of its own, not in the test runner's
    const joins: string[] = [];
    for (const root of CGROUPS) {
      if (!existsSync(join(root, 'cgroup.procs'))) continue;
      const d = join(root, m.name);
      mkdirSync(d, { recursive: true });
      m.cgroupDirs.push(d);
      joins.push(`echo $$ > ${d}/cgroup.procs`);
    }
    const script = `${joins.join(' && ')}${joins.length ? ' && ' : ''}exec setsid systemd-nspawn --boot -D ${m.rootfs} --register=no --keep-unit --private-network --machine=${m.name} --console=pipe </dev/null`;
    m.nspawn = startChild('bash', ['-c', script], { env: { ...process.env, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' } });
    const nspawnPid = m.nspawn.proc.pid as number;
    // nspawn's child that runs systemd (an intermediate child doing the setup comes and goes first)
    m.pid1 = await until('the machine\'s PID 1', () => {
      if (m.nspawn?.proc.exitCode !== null) throw new Error(`systemd-nspawn exited: ${m.nspawn?.output()}`);
      const kids = readFileSync(`/proc/${nspawnPid}/task/${nspawnPid}/children`, 'utf8').trim().split(' ').filter(Boolean);
      return kids.map(Number).find((k) => readFileSync(`/proc/${k}/comm`, 'utf8').trim() === 'systemd');
    }, 30_000, 50);
    await until('systemctl is-system-running', () => {
      const s = m.exec('systemctl is-system-running', { allowFail: true }).stdout.trim();
      return s === 'running' || s === 'degraded' ? s : undefined;
    }, 60_000, 200);
    return m;
  }

  /** Console output of the machine (its systemd and getty lines). */
  console(): string {
    return this.nspawn?.output() ?? '';
  }

  /**
   * `sh -c script` inside the machine, as root. In a session of its own: the machine's processes must not share a
   * process group with the test runner (a `kill -STOP 0` inside would stop the runner too).
   */
  exec(script: string, opts: RunOptions = {}): RunResult {
    return run('setsid', ['--wait', 'nsenter', '-t', String(this.pid1), '-a', '/bin/sh', '-c', script], { ...opts, env: INSIDE_ENV });
  }

  /** One property of a unit (`systemctl show -P`). */
  show(unit: string, prop: string): string {
    return this.exec(`systemctl show -P ${prop} ${unit}`).stdout.trim();
  }

  /** A long-running program of this host started in the machine's network namespace (its loopback). */
  netns(cmd: string, args: string[], cwd?: string): Child {
    return startChild('nsenter', ['-t', String(this.pid1), '-n', cmd, ...args], { cwd });
  }

  /** A program of this host run to completion in the machine's network namespace. */
  netnsRun(cmd: string, args: string[], opts: RunOptions = {}): RunResult {
    return run('nsenter', ['-t', String(this.pid1), '-n', cmd, ...args], opts);
  }

  writeFile(path: string, text: string): void {
    writeFileSync(join(this.rootfs, path), text);
  }

  /** `systemctl poweroff` inside, then removes the rootfs, the cgroups and the /run/systemd/nspawn tmpfs. */
  async destroy(): Promise<{ poweroffMs: number; exitCode: number | null }> {
    let poweroffMs = -1;
    let exitCode: number | null = null;
    if (this.nspawn && this.nspawn.proc.exitCode === null) {
      const t0 = Date.now();
      this.exec('systemctl poweroff', { allowFail: true, timeoutMs: 10_000 });
      const done = await Promise.race([this.nspawn.exited, sleep(30_000).then(() => 'timeout' as const)]);
      if (done === 'timeout') await stopChild(this.nspawn, 5_000);
      else exitCode = done;
      poweroffMs = Date.now() - t0;
    }
    for (const mnt of mountsUnder(this.dir)) run('umount', ['-l', mnt], { allowFail: true });
    rmSync(this.dir, { recursive: true, force: true });
    for (const d of this.cgroupDirs) {
      try {
        rmdirSync(d);
      } catch {
        // a child cgroup left by nspawn: it is emptied when the machine is gone; try once more
        await sleep(500);
        sh(`find ${d} -depth -type d -exec rmdir {} \\;`, { allowFail: true });
      }
    }
    if (this.mountedNspawnRun) run('umount', ['/run/systemd/nspawn'], { allowFail: true });
    return { poweroffMs, exitCode };
  }
}
