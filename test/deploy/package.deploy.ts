/**
 * The Debian package under a real systemd 252 (slow: about 4 minutes cold on 2 cores, 2-3 with the rootfs cached).
 *
 * Builds alink-agent_*.deb (deploy/debian/build.sh), boots a debootstrapped Debian 12 under systemd-nspawn
 * (test/deploy/machine.ts; no procps in it, so ExecReload must do without /bin/kill), installs this host's Node 20
 * package and then ours the way an operator does (`apt-get install ./alink-agent_*.deb`), and checks with systemd
 * itself: the service is enabled but skipped until configured; configured against the simulator on the machine's
 * own loopback, it stays `activating` until READY=1 and is `active (running)` after; StatusText follows the
 * connection; SetDeviceProperty through the official cloud SDK reaches it; `systemctl reload` reloads in place;
 * after `kill -STOP` the watchdog (3 s, from a drop-in) kills and restarts it; `systemctl stop` exits 0; the
 * `systemd-analyze security` exposure is at most 2.0; remove and purge leave nothing behind. Prints its timings and
 * the agent's RSS under systemd beside a plain `node` run of the same config in the same machine.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Machine } from './machine';
import { CACHE_DIR, REPO, cachedRootfsTar, ensurePackages, run, secs, sh, sleep, stopChild, until, type Child } from './support';

jest.setTimeout(20 * 60_000);

const UNIT = 'alink-agent.service';
const TS_NODE = ['-r', join(REPO, 'test', 'helpers', 'ts-register.js')];
const SIM_CONFIG = JSON.parse(readFileSync(join(REPO, 'simulator', 'simulator.config.json'), 'utf8')) as {
  devices: { productKey: string; deviceName: string; deviceSecret: string }[];
};

let machine: Machine | undefined;
let work: string | undefined;
let debFile = '';
let blackhole: Child | undefined;
let sim: Child | undefined;
const facts: string[] = [];
const t0 = Date.now();

/**
 * This host's nodejs package (NodeSource's Node 20, which Debian 12 does not ship) rebuilt from its installed files,
 * so that the machine satisfies `Depends: nodejs (>= 20)` as a gateway with NodeSource's repository does.
 */
function hostNodejsDeb(): string {
  const q = (f: string) => run('dpkg-query', ['-W', `-f=\${${f}}`, 'nodejs']).stdout;
  const version = q('Version');
  if (!version || !/^2\d\./.test(version)) throw new Error(`this host's nodejs package is ${version || 'missing'}; Node >= 20 from a package is needed`);
  const file = join(CACHE_DIR, `nodejs_${version}_${q('Architecture')}.deb`);
  if (existsSync(file)) return file;
  const dir = mkdtempSync('/var/tmp/alink-nodejs-');
  try {
    sh(`dpkg-query -L nodejs | while read -r p; do [ -f "$p" ] || [ -L "$p" ] && printf '%s\\n' "\${p#/}"; done > ${dir}/files && tar -C / -cf - -T ${dir}/files | (mkdir -p ${dir}/pkg && tar -C ${dir}/pkg -xf -)`, { timeoutMs: 300_000 });
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

/** The unit's journal since `cursorFile` was last written (journalctl --cursor-file). */
function journal(m: Machine, cursorFile = '/root/journal.cursor'): string {
  return m.exec(`journalctl --no-pager -o cat --cursor-file=${cursorFile} _SYSTEMD_UNIT=${UNIT} + UNIT=${UNIT} + _COMM=systemd`, { allowFail: true }).stdout;
}

const sdk = (m: Machine, ...args: string[]) => {
  const r = m.netnsRun(process.execPath, [...TS_NODE, join(REPO, 'test', 'deploy', 'sdk-drive.ts'), 'http://127.0.0.1:8080', ...args], { cwd: REPO, allowFail: true, timeoutMs: 60_000 });
  const out = JSON.parse(r.stdout.trim().split('\n').pop() || '{}') as Record<string, unknown>;
  if (r.status !== 0) throw new Error(`sdk-drive ${args.join(' ')}: ${JSON.stringify(out)} ${r.stderr}`);
  return out;
};

function vmRssKb(m: Machine, pid: string): number {
  return Number(/VmRSS:\s+(\d+)/.exec(m.exec(`cat /proc/${pid}/status`).stdout)?.[1]);
}

beforeAll(async () => {
  ensurePackages(['debootstrap', `systemd-container=${run('dpkg-query', ['-W', '-f=${Version}', 'systemd']).stdout}`]);
  work = mkdtempSync('/var/tmp/alink-deb-test-');
  const b = sh(`bash ${join(REPO, 'deploy', 'debian', 'build.sh')} --out ${work}`, { cwd: REPO, timeoutMs: 15 * 60_000 });
  debFile = b.stdout.trim().split('\n').pop() as string;
  const installedKb = Number(run('dpkg-deb', ['-f', debFile, 'Installed-Size']).stdout.trim());
  facts.push(`package build: ${secs(b.ms)}; ${debFile.split('/').pop()} ${(Number(sh(`stat -c %s ${debFile}`).stdout) / 1e6).toFixed(1)} MB, installed ${(installedKb / 1024).toFixed(1)} MB`);
  const nodeDeb = hostNodejsDeb();
  // no procps: ExecReload has to work without /bin/kill
  const tar = cachedRootfsTar('nspawn-bookworm-systemd-v1', ['systemd', 'systemd-sysv', 'dbus', 'python3', 'ca-certificates', 'init-system-helpers'], () => undefined);
  const tBoot = Date.now();
  machine = await Machine.boot(tar);
  facts.push(`machine booted in ${secs(Date.now() - tBoot)}`);
  sh(`cp ${debFile} ${nodeDeb} ${machine.rootfs}/root/`);
});

afterAll(async () => {
  await stopChild(blackhole);
  await stopChild(sim);
  if (machine) {
    const { poweroffMs, exitCode } = await machine.destroy();
    facts.push(`poweroff ${secs(poweroffMs)}, nspawn exit ${exitCode}`);
  }
  if (work) rmSync(work, { recursive: true, force: true });
  facts.push(`whole test ${secs(Date.now() - t0)}`);
  console.log(`package deployment test\n  ${facts.join('\n  ')}`);
});

describe('the Debian package under systemd (systemd-nspawn, systemd 252)', () => {
  it('installs with apt-get: user, permissions, enabled but not started until configured', () => {
    const m = machine as Machine;
    expect(existsSync(join(m.rootfs, 'bin/kill')) || existsSync(join(m.rootfs, 'usr/bin/kill'))).toBe(false);
    const debs = [readdirName(debFile), ...sh(`ls ${m.rootfs}/root/ | grep '^nodejs_'`).stdout.trim().split('\n')];
    const inst = m.exec(`cd /root && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ./${debs[1]} ./${debs[0]} 2>&1`, { timeoutMs: 300_000 });
    expect(inst.stdout).toContain('it starts once /etc/alink-agent/agent.config.json exists');
    expect(m.exec('getent passwd alink-agent').stdout).toMatch(/^alink-agent:x:\d+:\d+:[^:]*:\/var\/lib\/alink-agent:\/usr\/sbin\/nologin$/m);
    expect(m.exec('stat -c "%a %U:%G" /etc/alink-agent /etc/alink-agent/agent.config.example.json').stdout.trim().split('\n')).toEqual(['750 root:alink-agent', '640 root:alink-agent']);
    expect(m.exec('systemctl is-enabled alink-agent', { allowFail: true }).stdout.trim()).toBe('enabled');
    expect(m.exec('systemctl is-active alink-agent', { allowFail: true }).stdout.trim()).toBe('inactive');
    // a start before the config exists is skipped by the condition, not failed
    m.exec('systemctl start alink-agent');
    expect([m.show(UNIT, 'ActiveState'), m.show(UNIT, 'ConditionResult'), m.show(UNIT, 'NRestarts')]).toEqual(['inactive', 'no', '0']);
    expect(m.exec('alink-agent tsl check /usr/share/alink-agent/example-gateway.tsl.json').status).toBe(0);
  });

  it('stays activating until READY=1, then is active (running); StatusText follows the connection', async () => {
    const m = machine as Machine;
    const device = SIM_CONFIG.devices[0] as { productKey: string; deviceName: string; deviceSecret: string };
    const example = JSON.parse(m.exec('cat /etc/alink-agent/agent.config.example.json').stdout) as Record<string, unknown>;
    const config = {
      ...example,
      device: { productKey: device.productKey, deviceName: device.deviceName, secret: device.deviceSecret },
      // a first attempt that hangs for 4 s keeps READY=1 back that long
      broker: { url: 'mqtt://127.0.0.1:1883', connectTimeoutMs: 4000, reconnect: { initialMs: 500, maxMs: 2000 } },
      thingModel: { path: '/usr/share/alink-agent/example-gateway.tsl.json' },
    };
    m.writeFile('/etc/alink-agent/agent.config.json', JSON.stringify(config, null, 2));
    m.exec('chgrp alink-agent /etc/alink-agent/agent.config.json && chmod 0640 /etc/alink-agent/agent.config.json');
    // the secret: readable by the service's group, not by anyone else
    expect(m.exec('setpriv --reuid=nobody --regid=nogroup --clear-groups cat /etc/alink-agent/agent.config.json', { allowFail: true }).status).not.toBe(0);
    // a short watchdog and restart delay keep the test fast
    m.exec('mkdir -p /etc/systemd/system/alink-agent.service.d && printf "[Service]\\nWatchdogSec=3\\nRestartSec=1\\n" > /etc/systemd/system/alink-agent.service.d/test.conf && systemctl daemon-reload');
    expect(m.show(UNIT, 'WatchdogUSec')).toBe('3s');

    // A broker that accepts the TCP connection and never answers CONNACK: the first attempt lasts connectTimeoutMs.
    blackhole = m.netns(process.execPath, ['-e', "require('net').createServer(() => {}).listen(1883, '127.0.0.1', () => console.log('listening'))"]);
    await until('the silent broker', () => (blackhole?.output().includes('listening') ? true : undefined), 10_000);
    m.exec('journalctl --no-pager -n0 --cursor-file=/root/journal.cursor >/dev/null 2>&1; true');
    m.exec('systemctl start --no-block alink-agent');
    const pid = await until('a main pid', () => {
      const p = m.show(UNIT, 'MainPID');
      return p !== '0' ? p : undefined;
    }, 10_000, 50);
    await sleep(2000);
    // running for 2 s, no READY=1 yet: systemd still says activating
    expect([m.show(UNIT, 'ActiveState'), m.show(UNIT, 'SubState')]).toEqual(['activating', 'start']);
    expect(m.exec(`test -d /proc/${pid} && echo alive`).stdout.trim()).toBe('alive');
    await until('active (running)', () => (m.show(UNIT, 'ActiveState') === 'active' ? true : undefined), 20_000, 100);
    expect(m.show(UNIT, 'SubState')).toBe('running');
    const startedUs = Number(m.show(UNIT, 'ExecMainStartTimestampMonotonic'));
    const activeUs = Number(m.show(UNIT, 'ActiveEnterTimestampMonotonic'));
    facts.push(`start -> READY=1 with a silent broker: ${secs((activeUs - startedUs) / 1000)} (connectTimeoutMs 4000)`);
    expect(activeUs - startedUs).toBeGreaterThanOrEqual(3_500_000);
    expect(m.exec('systemctl status --no-pager alink-agent', { allowFail: true }).stdout).toContain('active (running)');
    expect(m.show(UNIT, 'StatusText')).toMatch(/mqtt:\/\/127\.0\.0\.1:1883/);
    expect(m.show(UNIT, 'StatusText')).not.toMatch(/^connected/);

    await stopChild(blackhole);
    sim = m.netns(process.execPath, [join(REPO, 'dist', 'simulator', 'cli.js'), 'serve', '--config', join(REPO, 'simulator', 'simulator.config.json'), '--http-port', '8080', '--mqtt-port', '1883'], REPO);
    await until('the simulator ready', () => (sim?.output().includes('"msg":"ready"') ? true : undefined), 30_000);
    const status = await until('StatusText connected', () => {
      const s = m.show(UNIT, 'StatusText');
      return s.startsWith('connected to mqtt://127.0.0.1:1883') ? s : undefined;
    }, 30_000, 200);
    facts.push(`StatusText: ${status}`);
    const user = m.exec(`stat -c %U /proc/${m.show(UNIT, 'MainPID')}`).stdout.trim();
    expect(user).toBe('alink-agent');
    expect(journal(m)).not.toContain(device.deviceSecret);
  });

  it('answers SetDeviceProperty from the official cloud SDK', () => {
    const m = machine as Machine;
    expect(sdk(m, 'status')).toEqual({ status: 'ONLINE' });
    expect(sdk(m, 'set', '{"ReportInterval":120,"WorkMode":1}').shown).toEqual({ ReportInterval: '120', WorkMode: '1' });
  });

  it('reloads in place with systemctl reload (no procps in the machine)', async () => {
    const m = machine as Machine;
    const pid = m.show(UNIT, 'MainPID');
    m.exec('journalctl --no-pager -n0 --cursor-file=/root/reload.cursor >/dev/null 2>&1; true');
    const r = m.exec('systemctl reload alink-agent', { timeoutMs: 30_000 });
    expect(r.status).toBe(0);
    const log = await until('the reload in the journal', () => {
      const j = journal(m, '/root/reload.cursor');
      return j.includes('reloading the configuration') && /Reloaded /.test(j) ? j : undefined;
    }, 15_000, 200);
    expect(log).not.toMatch(/203\/EXEC|Control process exited, code=exited/);
    expect([m.show(UNIT, 'MainPID'), m.show(UNIT, 'ActiveState'), m.show(UNIT, 'NRestarts')]).toEqual([pid, 'active', '0']);
  });

  it('is killed by the watchdog after kill -STOP and restarted; the new process takes over', async () => {
    const m = machine as Machine;
    const pid = m.show(UNIT, 'MainPID');
    m.exec('journalctl --no-pager -n0 --cursor-file=/root/watchdog.cursor >/dev/null 2>&1; true');
    const tStop = Date.now();
    m.exec(`kill -STOP ${pid}`);
    const newPid = await until('a restarted agent, connected', () => {
      const p = m.show(UNIT, 'MainPID');
      return p !== pid && p !== '0' && m.show(UNIT, 'ActiveState') === 'active' && m.show(UNIT, 'StatusText').startsWith('connected') ? p : undefined;
    }, 60_000, 200);
    facts.push(`kill -STOP -> restarted and connected: ${secs(Date.now() - tStop)} (WatchdogSec=3, RestartSec=1)`);
    const log = journal(m, '/root/watchdog.cursor');
    expect(log).toMatch(/Watchdog timeout \(limit 3s\)!/);
    expect(log).toMatch(/Killing process \d+ \(node\) with signal SIGABRT/);
    expect(newPid).not.toBe(pid);
    expect(m.show(UNIT, 'NRestarts')).toBe('1');
    // the new process opened the same data dir (the lock of the killed one is gone) and answers
    expect(sdk(m, 'set', '{"ReportInterval":240}').shown).toEqual({ ReportInterval: '240' });
  });

  it('uses the same memory under systemd as a plain node run of the same config', async () => {
    const m = machine as Machine;
    await sleep(3000);
    const underSystemd = vmRssKb(m, m.show(UNIT, 'MainPID'));
    m.exec('systemctl stop alink-agent');
    // the same program, config, user and data dir, started by hand: no NOTIFY_SOCKET, no sandbox
    m.exec('setpriv --reuid=alink-agent --regid=alink-agent --init-groups sh -c "cd /var/lib/alink-agent && exec /usr/bin/node /opt/alink-agent/dist/agent/cli/main.js run --config /etc/alink-agent/agent.config.json" >/root/plain.log 2>&1 & echo $! > /root/plain.pid');
    const plainPid = m.exec('cat /root/plain.pid').stdout.trim();
    await until('the plain run connected', () => (m.exec('cat /root/plain.log').stdout.includes('"msg":"connected"') ? true : undefined), 30_000, 500);
    await sleep(3000);
    const plain = vmRssKb(m, plainPid);
    m.exec(`kill -TERM ${plainPid}; for i in $(seq 50); do [ -d /proc/${plainPid} ] || exit 0; sleep 0.2; done; exit 1`);
    facts.push(`RSS: under systemd ${(underSystemd / 1024).toFixed(1)} MB, plain node ${(plain / 1024).toFixed(1)} MB`);
    expect(underSystemd).toBeGreaterThan(0);
    expect(plain).toBeGreaterThan(0);
    m.exec('systemctl start alink-agent');
    expect(m.show(UNIT, 'ActiveState')).toBe('active');
  });

  it('stops with systemctl stop: exit 0', () => {
    const m = machine as Machine;
    const r = m.exec('systemctl stop alink-agent', { timeoutMs: 60_000 });
    facts.push(`systemctl stop: ${secs(r.ms)}`);
    expect(r.status).toBe(0);
    expect([m.show(UNIT, 'ActiveState'), m.show(UNIT, 'Result'), m.show(UNIT, 'ExecMainStatus')]).toEqual(['inactive', 'success', '0']);
  });

  it('scores at most 2.0 in systemd-analyze security', () => {
    const m = machine as Machine;
    const out = m.exec(`systemd-analyze security --no-pager ${UNIT}`, { allowFail: true }).stdout;
    const score = Number(/Overall exposure level for alink-agent\.service: (\d+\.\d+)/.exec(out)?.[1]);
    facts.push(`systemd-analyze security: ${score}`);
    expect(score).toBeLessThanOrEqual(2.0);
  });

  it('removes cleanly and purges the config and the state', () => {
    const m = machine as Machine;
    m.exec('rm -rf /etc/systemd/system/alink-agent.service.d && systemctl daemon-reload');
    m.exec('systemctl start alink-agent');
    m.exec('DEBIAN_FRONTEND=noninteractive apt-get remove -y alink-agent 2>&1', { timeoutMs: 120_000 });
    expect(m.exec('systemctl is-active alink-agent', { allowFail: true }).stdout.trim()).toBe('inactive');
    expect(m.exec('ls /opt/alink-agent /lib/systemd/system/alink-agent.service 2>&1', { allowFail: true }).stdout).toMatch(/No such file[\s\S]*No such file/);
    // removal keeps the config and the outbox
    expect(m.exec('ls /etc/alink-agent /var/lib/alink-agent').stdout).toContain('agent.config.json');
    m.exec('DEBIAN_FRONTEND=noninteractive apt-get purge -y alink-agent 2>&1', { timeoutMs: 120_000 });
    const left = m.exec('ls -d /etc/alink-agent /var/lib/alink-agent /opt/alink-agent /usr/bin/alink-agent /etc/systemd/system/multi-user.target.wants/alink-agent.service 2>/dev/null; dpkg-query -W -f="${Status}" alink-agent 2>&1', { allowFail: true }).stdout;
    expect(left).not.toMatch(/^\//m);
    expect(left).not.toMatch(/install ok installed|config-files/);
    expect(m.exec('systemctl list-unit-files --no-legend alink-agent.service', { allowFail: true }).stdout.trim()).toBe('');
  });
});

function readdirName(file: string): string {
  return file.split('/').pop() as string;
}
