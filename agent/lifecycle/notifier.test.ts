/**
 * SystemdNotifier and SystemdIntegration in this process, with the real addon and a python3 receiver; and
 * without the addon (a native/ directory that has no build), as on a gateway where the build failed.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findNativeDir, loadNotifyBinding } from './binding';
import { SystemdNotifier } from './notifier';
import { SystemdIntegration } from './systemd';
import { NotifyReceiver } from '../../native/test/notify-receiver';
import { captureLog } from '../../test/agent-support';

const ROOT = join(__dirname, '..', '..');

describe('loading the addon', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'alink-native-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("finds this repo's native/ from the sources and from a dist/ layout", () => {
    expect(findNativeDir()).toBe(join(ROOT, 'native'));
    mkdirSync(join(dir, 'dist', 'agent', 'lifecycle'), { recursive: true });
    mkdirSync(join(dir, 'native'));
    writeFileSync(join(dir, 'native', 'package.json'), JSON.stringify({ name: 'alink-agent-native' }));
    expect(findNativeDir(join(dir, 'dist', 'agent', 'lifecycle'))).toBe(join(dir, 'native'));
  });

  it('ignores a native/ that is not alink-agent-native', () => {
    const other = mkdtempSync(join(tmpdir(), 'alink-other-'));
    try {
      mkdirSync(join(other, 'a', 'b'), { recursive: true });
      mkdirSync(join(other, 'native'));
      writeFileSync(join(other, 'native', 'package.json'), JSON.stringify({ name: 'something-else' }));
      expect(findNativeDir(join(other, 'a', 'b'))).not.toBe(join(other, 'native'));
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('loads the real addon', () => {
    const load = loadNotifyBinding();
    expect(load.ok).toBe(true);
    if (load.ok) expect(load.binding.path).toBe(join(ROOT, 'native', 'build', 'Release', 'alink_notify.node'));
  });

  it('returns an error value, not a throw, when there is no build', () => {
    // a copy of the package without build/: what a failed node-gyp leaves behind
    const copy = join(dir, 'unbuilt');
    mkdirSync(copy);
    writeFileSync(join(copy, 'package.json'), JSON.stringify({ name: 'alink-agent-native', main: 'index.js' }));
    writeFileSync(join(copy, 'index.js'), `module.exports = require(${JSON.stringify(join(ROOT, 'node_modules', 'node-gyp-build'))})(__dirname);`);
    const load = loadNotifyBinding(copy);
    expect(load.ok).toBe(false);
    if (load.ok) return;
    expect(load.error.code).toBe('LIFECYCLE_NOTIFY_UNAVAILABLE');
    expect(load.error.message).toMatch(new RegExp(`^systemd notify addon in ${copy} cannot be loaded: No native build was found for platform=`));
    expect(load.error.message).toContain('node native/scripts/build.js');
  });
});

describe('SystemdNotifier', () => {
  let receiver: NotifyReceiver;
  beforeAll(async () => {
    receiver = await NotifyReceiver.start('abstract');
  });
  afterAll(() => receiver?.close());

  it('does nothing without NOTIFY_SOCKET', () => {
    const log = captureLog();
    const n = new SystemdNotifier({ env: {}, logger: log.logger });
    expect(n.enabled).toBe(false);
    expect(n.ready()).toEqual({ sent: false, reason: 'no-socket' });
    expect(n.watchdogPing()).toEqual({ sent: false, reason: 'no-socket' });
    expect(log.lines()).toEqual([]);
  });

  it('keeps every value on its line, so a status cannot inject assignments', async () => {
    const { logger } = captureLog();
    const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: receiver.address }, logger });
    const from = receiver.datagrams.length;
    expect(n.status('last error: boom\nREADY=1\r\nMAINPID=1')).toEqual({ sent: true });
    expect(n.mainPid(process.pid)).toEqual({ sent: true });
    expect(n.status('x'.repeat(2000))).toEqual({ sent: true });
    const got = await receiver.waitForCount(`MAINPID=${process.pid}`, 1, 5000, from);
    expect(receiver.datagrams[from]?.text).toBe('STATUS=last error: boom READY=1 MAINPID=1');
    expect(got[0]?.text).toBe(`MAINPID=${process.pid}`);
    await receiver.waitFor(`STATUS=${'x'.repeat(509)}...`, 5000, from);
  });

  it('returns failures as values and logs each kind once until a send works again', async () => {
    const log = captureLog();
    const gone = join(tmpdir(), `alink-gone-${process.pid}.sock`);
    const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: gone }, logger: log.logger });
    const r1 = n.watchdogPing();
    const r2 = n.watchdogPing();
    expect(r1).toMatchObject({ sent: false, reason: 'error', error: { code: 'LIFECYCLE_NOTIFY_FAILED', details: { errno: 'ENOENT', socket: gone, fields: 'WATCHDOG' } } });
    expect(r2.sent).toBe(false);
    expect(log.lines()).toHaveLength(1);
    expect(log.lines()[0]?.msg).toMatch(new RegExp(`^systemd notify WATCHDOG to NOTIFY_SOCKET=${gone} failed: ENOENT: sendto ${gone}: No such file or directory`));
  });
});

describe('SystemdIntegration without the addon', () => {
  it('says so once at start, with the reason, and keeps working without it', () => {
    const log = captureLog();
    const dir = mkdtempSync(join(tmpdir(), 'alink-noaddon-'));
    try {
      const binding = loadNotifyBinding(join(dir, 'missing'));
      const systemd = new SystemdIntegration({ env: { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '30000000' }, logger: log.logger, binding, isAlive: () => true, describe: () => 'ok' });
      systemd.start();
      systemd.start();
      expect(systemd.ready()).toEqual({ sent: false, reason: 'no-addon' });
      systemd.updateStatus();
      expect(systemd.reloading()).toEqual({ sent: false, reason: 'no-addon' });
      systemd.stop();
      expect(systemd.watchdog).toBeUndefined();
      const warnings = log.lines().filter((l) => (l.level as number) >= 40);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ code: 'LIFECYCLE_NOTIFY_UNAVAILABLE', notifySocket: '/run/systemd/notify', component: 'systemd' });
      expect(String(warnings[0]?.msg)).toContain('running without it: systemd will not see READY=1 or watchdog pings');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('warns about an invalid WATCHDOG_USEC and runs without the watchdog', async () => {
    const receiver = await NotifyReceiver.start('path');
    try {
      const log = captureLog();
      const systemd = new SystemdIntegration({ env: { NOTIFY_SOCKET: receiver.address, WATCHDOG_USEC: '30s' }, logger: log.logger, isAlive: () => true, describe: () => 'fine' });
      systemd.start();
      expect(systemd.ready()).toEqual({ sent: true });
      systemd.stop();
      await receiver.waitFor('STOPPING=1');
      expect(systemd.watchdog).toBeUndefined();
      expect(receiver.datagrams.map((d) => d.text)).toEqual(['STATUS=fine', 'READY=1\nSTATUS=fine', 'STOPPING=1\nSTATUS=stopping: draining handlers and the outbox']);
      expect(log.lines().filter((l) => l.level === 40)).toEqual([expect.objectContaining({ code: 'LIFECYCLE_WATCHDOG_ENV_INVALID' })]);
    } finally {
      await receiver.close();
    }
  });

  it('keeps the last status when describe() throws', async () => {
    const receiver = await NotifyReceiver.start('path');
    try {
      const log = captureLog();
      let fail = false;
      const systemd = new SystemdIntegration({
        env: { NOTIFY_SOCKET: receiver.address },
        logger: log.logger,
        isAlive: () => true,
        describe: () => {
          if (fail) throw new Error('outbox closed');
          return 'connected';
        },
      });
      systemd.start();
      fail = true;
      systemd.updateStatus();
      expect(systemd.ready()).toEqual({ sent: true });
      systemd.stop();
      await receiver.waitFor('STOPPING=1');
      expect(receiver.datagrams.map((d) => d.text).slice(0, 2)).toEqual(['STATUS=connected', 'READY=1\nSTATUS=connected']);
      expect(log.find('systemd: describe() threw')).toEqual([expect.objectContaining({ level: 50 }), expect.objectContaining({ level: 50 })]);
    } finally {
      await receiver.close();
    }
  });
});
