/**
 * deploy/systemd/alink-agent.service: the settings the agent relies on, and `systemd-analyze verify` where the
 * machine has it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const UNIT = join(ROOT, 'deploy', 'systemd', 'alink-agent.service');
const INSTALL_DIR = '/opt/alink-agent';

/** Section → key → values in order (a key may repeat); comments and blank lines dropped. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[([A-Za-z]+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1] as string, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq <= 0) throw new Error(`${UNIT}:${i + 1}: expected [Section] or Key=value, received ${JSON.stringify(line)}`);
    const key = line.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

function systemdAnalyze(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

describe('deploy/systemd/alink-agent.service', () => {
  const unit = parseUnit(readFileSync(UNIT, 'utf8'));
  const service = unit.get('Service') ?? new Map<string, string[]>();
  const one = (key: string) => {
    const values = service.get(key);
    expect(values).toHaveLength(1);
    return (values ?? [])[0];
  };

  it('is a notify service with a watchdog that restarts on failure', () => {
    expect(one('Type')).toBe('notify');
    expect(one('NotifyAccess')).toBe('main');
    expect(one('WatchdogSec')).toBe('30');
    expect(one('Restart')).toBe('on-failure');
    expect(Number(one('RestartSec'))).toBeGreaterThan(0);
    // sh's builtin kill, not procps' /bin/kill (absent from minimal images)
    expect(one('ExecReload')).toBe("/bin/sh -c 'kill -HUP $$MAINPID'");
    expect(Number(one('TimeoutStopSec'))).toBeGreaterThan(0);
    expect(Number(one('TimeoutStartSec'))).toBeGreaterThan(0);
    expect(unit.get('Install')?.get('WantedBy')).toEqual(['multi-user.target']);
  });

  it("starts the package's alink-agent bin with the config from ConfigurationDirectory", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    const bin = pkg.bin['alink-agent'];
    expect(bin).toBeDefined();
    const argv = (one('ExecStart') ?? '').split(/\s+/);
    expect(argv).toEqual(['/usr/bin/node', posix.join(INSTALL_DIR, bin as string), 'run', '--config', '/etc/alink-agent/agent.config.json']);
    expect(one('ConfigurationDirectory')).toBe('alink-agent');
  });

  it('keeps its state in /var/lib/alink-agent under its own user', () => {
    expect(one('StateDirectory')).toBe('alink-agent');
    expect(one('User')).toBe('alink-agent');
    const sysusers = readFileSync(join(ROOT, 'deploy', 'systemd', 'alink-agent.sysusers.conf'), 'utf8');
    expect(sysusers).toMatch(/^u alink-agent - "[^"]+" \/var\/lib\/alink-agent /m);
  });

  it('is hardened, leaving V8 its W+X memory', () => {
    for (const [key, value] of [
      ['ProtectSystem', 'strict'],
      ['ProtectHome', 'yes'],
      ['PrivateTmp', 'yes'],
      ['NoNewPrivileges', 'yes'],
      ['ProtectKernelTunables', 'yes'],
      ['ProtectKernelModules', 'yes'],
      ['ProtectControlGroups', 'yes'],
      ['RestrictAddressFamilies', 'AF_UNIX AF_INET AF_INET6'],
      ['RestrictNamespaces', 'yes'],
      ['LockPersonality', 'yes'],
      ['MemoryDenyWriteExecute', 'no'],
      ['SystemCallFilter', '@system-service'],
      ['CapabilityBoundingSet', ''],
    ]) {
      expect([key, one(key as string)]).toEqual([key, value]);
    }
  });

  it('passes systemd-analyze verify', () => {
    const analyze = systemdAnalyze();
    if (analyze === undefined) {
      console.warn('systemd-analyze is not installed: skipping `systemd-analyze verify` of alink-agent.service (the settings above were still checked)');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'alink-unit-'));
    try {
      const copy = join(dir, 'alink-agent.service');
      copyFileSync(UNIT, copy);
      // verify checks that ExecStart's program exists; on a machine whose node lives elsewhere, point it there
      if (!existsSync('/usr/bin/node')) writeFileSync(copy, readFileSync(UNIT, 'utf8').replace('ExecStart=/usr/bin/node ', `ExecStart=${process.execPath} `));
      const r = spawnSync(analyze, ['verify', copy], { encoding: 'utf8', timeout: 20_000 });
      const aboutUnit = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('alink-agent.service'));
      expect({ status: r.status, aboutUnit }).toEqual({ status: 0, aboutUnit: [] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
