/**
 * The Debian package under a real systemd 252 (slow: about 5 minutes with nothing cached on 2 cores, about 3 with
 * the rootfs and the nodejs package cached in /var/tmp; building the package is most of it).
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
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  Machine,
  SIM_DEVICE,
  UNIT,
  buildDeb,
  configureAgent,
  ensureNspawnTools,
  gatewayRootfsTar,
  hostNodejsDeb,
  installPackages,
  startPlainAgent,
  startSimulator,
  untilConnected,
  vmRssKb,
} from './gateway';
import { REPO, run, secs, sh, sleep, stopChild, until, type Child } from './support';

jest.setTimeout(20 * 60_000);

const TS_NODE = ['-r', join(REPO, 'test', 'helpers', 'ts-register.js')];

let machine: Machine | undefined;
let work: string | undefined;
let debFile = '';
let nodeDeb = '';
let blackhole: Child | undefined;
let sim: Child | undefined;
const facts: string[] = [];
const t0 = Date.now();

/** The unit's journal since `cursorFile` was last written (journalctl --cursor-file). */
function journal(m: Machine, cursorFile = '/root/journal.cursor'): string {
  return m.exec(`journalctl --no-pager -o cat --cursor-file=${cursorFile} _SYSTEMD_UNIT=${UNIT} + UNIT=${UNIT}`, { allowFail: true }).stdout;
}

const sdk = (m: Machine, ...args: string[]) => {
  const r = m.netnsRun(process.execPath, [...TS_NODE, join(REPO, 'test', 'deploy', 'sdk-drive.ts'), 'http://127.0.0.1:8080', ...args], { cwd: REPO, allowFail: true, timeoutMs: 60_000 });
  const out = JSON.parse(r.stdout.trim().split('\n').pop() || '{}') as Record<string, unknown>;
  if (r.status !== 0) throw new Error(`sdk-drive ${args.join(' ')}: ${JSON.stringify(out)} ${r.stderr}`);
  return out;
};

beforeAll(async () => {
  ensureNspawnTools();
  work = mkdtempSync('/var/tmp/alink-deb-test-');
  const b = buildDeb(work);
  debFile = b.file;
  const installedKb = Number(run('dpkg-deb', ['-f', debFile, 'Installed-Size']).stdout.trim());
  facts.push(`package build: ${secs(b.ms)}; ${debFile.split('/').pop()} ${(Number(sh(`stat -c %s ${debFile}`).stdout) / 1e6).toFixed(1)} MB, installed ${((installedKb * 1024) / 1e6).toFixed(1)} MB (Installed-Size)`);
  nodeDeb = hostNodejsDeb();
  const tar = gatewayRootfsTar();
  const tBoot = Date.now();
  machine = await Machine.boot(tar);
  facts.push(`machine booted in ${secs(Date.now() - tBoot)}`);
});

afterAll(async () => {
  if (machine) console.log(`journal of ${UNIT} (last 40 lines):\n${machine.exec(`journalctl --no-pager -o short-monotonic -n 40 -u ${UNIT}`, { allowFail: true }).stdout}`);
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
    const inst = installPackages(m, [nodeDeb, debFile]);
    expect(inst).toContain('it starts once /etc/alink-agent/agent.config.json exists');
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
    // a first attempt that hangs for 4 s keeps READY=1 back that long
    configureAgent(m, { url: 'mqtt://127.0.0.1:1883', connectTimeoutMs: 4000, reconnect: { initialMs: 500, maxMs: 2000 } });
    // the secret: readable by the service's group, not by anyone else
    expect(m.exec('setpriv --reuid=nobody --regid=nogroup --clear-groups cat /etc/alink-agent/agent.config.json', { allowFail: true }).status).not.toBe(0);
    // a short watchdog and restart delay keep the test fast
    m.exec('mkdir -p /etc/systemd/system/alink-agent.service.d && printf "[Service]\\nWatchdogSec=3\\nRestartSec=1\\n" > /etc/systemd/system/alink-agent.service.d/test.conf && systemctl daemon-reload');

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
    expect(m.show(UNIT, 'WatchdogUSec')).toBe('3s');
    const startedUs = Number(m.show(UNIT, 'ExecMainStartTimestampMonotonic'));
    const activeUs = Number(m.show(UNIT, 'ActiveEnterTimestampMonotonic'));
    facts.push(`start -> READY=1 with a silent broker: ${secs((activeUs - startedUs) / 1000)} (connectTimeoutMs 4000)`);
    expect(activeUs - startedUs).toBeGreaterThanOrEqual(3_500_000);
    expect(m.exec('systemctl status --no-pager alink-agent', { allowFail: true }).stdout).toContain('active (running)');
    expect(m.show(UNIT, 'StatusText')).toMatch(/mqtt:\/\/127\.0\.0\.1:1883/);
    expect(m.show(UNIT, 'StatusText')).not.toMatch(/^connected/);

    await stopChild(blackhole);
    sim = await startSimulator(m);
    const status = await until('StatusText connected', () => {
      const s = m.show(UNIT, 'StatusText');
      return s.startsWith('connected to mqtt://127.0.0.1:1883') ? s : undefined;
    }, 30_000, 200);
    facts.push(`StatusText: ${status}`);
    const user = m.exec(`stat -c %U /proc/${m.show(UNIT, 'MainPID')}`).stdout.trim();
    expect(user).toBe('alink-agent');
    expect(journal(m)).not.toContain(SIM_DEVICE.deviceSecret);
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
    expect(pid).toMatch(/^[1-9]\d*$/);
    m.exec('journalctl --no-pager -n0 --cursor-file=/root/watchdog.cursor >/dev/null 2>&1; true');
    const tStop = Date.now();
    m.exec(`kill -STOP ${pid}`);
    const newPid = await untilConnected(m, 60_000, pid);
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
    const plainRun = await startPlainAgent(m);
    await sleep(3000);
    const plain = vmRssKb(m, plainRun.pid);
    plainRun.stop();
    facts.push(`RSS: under systemd ${(underSystemd / 1024).toFixed(1)} MB, plain node ${(plain / 1024).toFixed(1)} MB`);
    expect(underSystemd).toBeGreaterThan(0);
    expect(plain).toBeGreaterThan(0);
    m.exec('systemctl start alink-agent');
    await untilConnected(m);
  });

  it('stops with systemctl stop: exit 0', () => {
    const m = machine as Machine;
    expect(m.show(UNIT, 'ActiveState')).toBe('active');
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
