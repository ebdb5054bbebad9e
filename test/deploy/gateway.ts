/**
 * A gateway made of the Debian package: the package built from this checkout, a Debian 12 machine under
 * systemd-nspawn (no procps), this host's nodejs package, the agent configured against the simulator on the
 * machine's own loopback. Shared by package.deploy.ts and bench:footprint.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Machine } from './machine';
import { CACHE_DIR, REPO, cachedRootfsTar, ensurePackages, run, sh, until, type Child } from './support';

export const UNIT = 'alink-agent.service';
const SIM_CONFIG_FILE = join(REPO, 'simulator', 'simulator.config.json');
/** The simulator's device: the config the agent gets uses its credentials. */
export const SIM_DEVICE = (JSON.parse(readFileSync(SIM_CONFIG_FILE, 'utf8')) as { devices: { productKey: string; deviceName: string; deviceSecret: string }[] }).devices[0] as {
  productKey: string;
  deviceName: string;
  deviceSecret: string;
};

/** debootstrap and a systemd-nspawn of the host's systemd version (unpinned, apt would upgrade the host's systemd). */
export function ensureNspawnTools(): void {
  ensurePackages(['debootstrap', `systemd-container=${run('dpkg-query', ['-W', '-f=${Version}', 'systemd']).stdout}`]);
}

/** deploy/debian/build.sh into `outDir`; the .deb's path and the build's duration. */
export function buildDeb(outDir: string): { file: string; ms: number } {
  const b = sh(`bash ${join(REPO, 'deploy', 'debian', 'build.sh')} --out ${outDir}`, { cwd: REPO, timeoutMs: 15 * 60_000 });
  return { file: b.stdout.trim().split('\n').pop() as string, ms: b.ms };
}

/**
 * This host's nodejs package (NodeSource's Node 20, which Debian 12 does not ship) rebuilt from its installed files,
 * so that the machine satisfies `Depends: nodejs (>= 20)` as a gateway with NodeSource's repository does.
 */
export function hostNodejsDeb(): string {
  const q = (f: string) => run('dpkg-query', ['-W', `-f=\${${f}}`, 'nodejs']).stdout;
  const version = q('Version');
  if (!/^2\d\./.test(version)) throw new Error(`this host's nodejs package is ${version || 'missing'}; Node >= 20 from a package is needed`);
  const file = join(CACHE_DIR, `nodejs_${version}_${q('Architecture')}.deb`);
  if (existsSync(file)) return file;
  // A fresh machine has no cache yet, and this may run before anything else has made it.
  mkdirSync(CACHE_DIR, { recursive: true });
  const dir = mkdtempSync('/var/tmp/alink-nodejs-');
  try {
    sh(`dpkg-query -L nodejs | while read -r p; do if [ -f "$p" ] || [ -L "$p" ]; then printf '%s\\n' "\${p#/}"; fi; done > ${dir}/files && mkdir -p ${dir}/pkg && tar -C / -cf - -T ${dir}/files | tar -C ${dir}/pkg -xf -`, { timeoutMs: 300_000 });
    const fields = ['Package', 'Version', 'Architecture', 'Maintainer', 'Installed-Size', 'Depends', 'Provides', 'Conflicts', 'Replaces', 'Section', 'Priority', 'Homepage', 'Description'];
    const control = fields
      .map((f) => [f, q(f).trimEnd()] as const)
      .filter(([, v]) => v !== '')
      .map(([f, v]) => `${f}: ${v}`)
      .join('\n');
    sh(`mkdir -p ${dir}/pkg/DEBIAN && cat > ${dir}/pkg/DEBIAN/control <<'CONTROL'\n${control}\nCONTROL\ndpkg-deb --root-owner-group -Znone --build ${dir}/pkg ${file}.tmp >/dev/null && mv ${file}.tmp ${file}`, { timeoutMs: 300_000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(`${file}.tmp`, { force: true });
  }
  return file;
}

/** Debian 12 with systemd, dbus and what nodejs depends on; no procps, so ExecReload must do without /bin/kill. */
export function gatewayRootfsTar(): string {
  return cachedRootfsTar('nspawn-bookworm-systemd-v1', ['systemd', 'systemd-sysv', 'dbus', 'python3', 'ca-certificates', 'init-system-helpers'], () => undefined);
}

/** `apt-get install ./nodejs_….deb ./alink-agent_….deb` in the machine, as an operator does; apt's output. */
export function installPackages(m: Machine, debs: string[]): string {
  sh(`cp ${debs.join(' ')} ${m.rootfs}/root/`);
  const names = debs.map((d) => `./${d.split('/').pop() as string}`).join(' ');
  return m.exec(`cd /root && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${names} 2>&1`, { timeoutMs: 300_000 }).stdout;
}

/** /etc/alink-agent/agent.config.json from the package's example, for the simulator's device, root:alink-agent 0640. */
export function configureAgent(m: Machine, broker: Record<string, unknown> = { url: 'mqtt://127.0.0.1:1883' }): void {
  const example = JSON.parse(m.exec('cat /etc/alink-agent/agent.config.example.json').stdout) as Record<string, unknown>;
  const config = {
    ...example,
    device: { productKey: SIM_DEVICE.productKey, deviceName: SIM_DEVICE.deviceName, secret: SIM_DEVICE.deviceSecret },
    broker,
    thingModel: { path: '/usr/share/alink-agent/example-gateway.tsl.json' },
  };
  m.writeFile('/etc/alink-agent/agent.config.json', JSON.stringify(config, null, 2));
  m.exec('chgrp alink-agent /etc/alink-agent/agent.config.json && chmod 0640 /etc/alink-agent/agent.config.json');
}

/** The cloud simulator (this checkout's dist/) on the machine's loopback: HTTP 8080, MQTT 1883. */
export async function startSimulator(m: Machine): Promise<Child> {
  const sim = m.netns(process.execPath, [join(REPO, 'dist', 'simulator', 'cli.js'), 'serve', '--config', SIM_CONFIG_FILE, '--http-port', '8080', '--mqtt-port', '1883'], REPO);
  await until('the simulator ready', () => {
    if (sim.proc.exitCode !== null) throw new Error(`the simulator exited: ${sim.output()}`);
    return sim.output().includes('"msg":"ready"') ? true : undefined;
  }, 30_000);
  return sim;
}

/** VmRSS of a process in the machine, in kB. */
export function vmRssKb(m: Machine, pid: string): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(m.exec(`cat /proc/${pid}/status`).stdout)?.[1]);
  if (!(kb > 0)) throw new Error(`no VmRSS for pid ${pid} in the machine`);
  return kb;
}

/** Waits until the unit is active with StatusText "connected to ..."; returns the main pid. */
export async function untilConnected(m: Machine, timeoutMs = 30_000, notPid?: string): Promise<string> {
  return until('the agent under systemd, connected', () => {
    const p = m.show(UNIT, 'MainPID');
    return p !== '0' && p !== notPid && m.show(UNIT, 'ActiveState') === 'active' && m.show(UNIT, 'StatusText').startsWith('connected to ') ? p : undefined;
  }, timeoutMs, 200);
}

/** `Environment=` assignments of the shipped unit, as `K=V K=V` for a shell (values have no spaces or quotes). */
const UNIT_ENV = readFileSync(join(REPO, 'deploy', 'systemd', 'alink-agent.service'), 'utf8')
  .split('\n')
  .filter((l) => l.startsWith('Environment='))
  .map((l) => l.slice('Environment='.length).trim())
  .join(' ');

/**
 * The agent run by hand in the machine: same program, config, user, data dir and environment (the unit's
 * `Environment=` lines, read from the unit file) as the unit, no
 * NOTIFY_SOCKET, no sandbox. Resolves once it logged "connected"; `stop()` ends it with SIGTERM.
 */
export async function startPlainAgent(m: Machine): Promise<{ pid: string; stop: () => void }> {
  m.exec(
    `rm -f /root/plain.log; setpriv --reuid=alink-agent --regid=alink-agent --init-groups sh -c "cd /var/lib/alink-agent && ${UNIT_ENV} exec /usr/bin/node /opt/alink-agent/dist/agent/cli/main.js run --config /etc/alink-agent/agent.config.json" >/root/plain.log 2>&1 & echo $! > /root/plain.pid`,
  );
  const pid = m.exec('cat /root/plain.pid').stdout.trim();
  await until('the plain run connected', () => (m.exec('cat /root/plain.log').stdout.includes('"msg":"connected"') ? true : undefined), 30_000, 300);
  return { pid, stop: () => void m.exec(`kill -TERM ${pid}; for i in $(seq 50); do [ -d /proc/${pid} ] || exit 0; sleep 0.2; done; exit 1`) };
}

export { Machine };
