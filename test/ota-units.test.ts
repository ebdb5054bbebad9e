/**
 * The small OTA pieces on their own: the `ota` configuration's errors name the key, module claims are unique,
 * progress is throttled, versions come from a file, a command or a plugin, the doctor's staging check, and the
 * built-in installer's command (its exit status, stderr and deadline).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadPlugins } from '../agent/plugins/loader';
import { validateConfig } from '../agent/config/load';
import { checkOtaStaging } from '../agent/doctor/check-ota';
import { ProgressThrottle } from '../agent/ota/messages';
import { readVersion } from '../agent/ota/versions';
import { runCommand } from '../agent/ota/install';
import { definePlugin } from '../handlers/api';
import { compileThingModel, loadThingModelFile } from '../thing-model';
import { TSL_PATH } from './agent-e2e-support';

const base = () => ({ device: { productKey: 'a1GwDemo01', deviceName: 'gw-001', secret: 's' }, broker: { url: 'mqtt://127.0.0.1:1883' }, thingModel: { path: TSL_PATH } });
const dir = mkdtempSync(join(tmpdir(), 'ota-units-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fwPlugin = (name: string, modules: string[], version = '7.1') =>
  definePlugin({ name, setup: () => ({ ota: { modules, version: () => version, install: () => undefined } }) });

async function plugins(list: ReturnType<typeof fwPlugin>[]) {
  return loadPlugins(
    list.map((plugin) => ({ module: plugin.name, plugin })),
    { model: compileThingModel(loadThingModelFile(TSL_PATH)), identity: { productKey: 'a1GwDemo01', deviceName: 'gw-001' }, logger: pino({ level: 'silent' }), dataDir: dir, configDir: dir },
  );
}

describe('OTA pieces', () => {
  it('validates the ota section with errors naming the key', () => {
    const c = validateConfig({ ...base(), ota: { modules: [{ name: 'default', version: { file: 'v' } }] } });
    expect(c.ota).toMatchObject({ stagingDir: 'ota', blockBytes: 4 * 1024 * 1024, healthyBoots: 3, modules: [{ name: 'default', version: { file: 'v' } }] });
    expect(() => validateConfig({ ...base(), ota: { blockBytes: 10 } })).toThrow('ota.blockBytes: expected integer in [4096, 67108864], received 10');
    expect(() => validateConfig({ ...base(), ota: { modules: [{ name: 'a/b', version: { file: 'v' } }] } })).toThrow(/ota\.modules\.0\.name/);
    expect(() => validateConfig({ ...base(), ota: { modules: [{ name: 'x', version: { url: 'v' } }] } })).toThrow(/ota\.modules\.0\.version/);
  });

  it('refuses two plugins claiming one module', async () => {
    await expect(plugins([fwPlugin('a', ['mcu']), fwPlugin('b', ['mcu', 'x'])])).rejects.toThrow('OTA module "mcu" is claimed by both plugin "a" and plugin "b"');
  });

  it('reads versions from a file, a command and a plugin', async () => {
    writeFileSync(join(dir, 'VERSION'), ' 1.2.3 \nignored\n');
    const host = await plugins([fwPlugin('fw', ['mcu'])]);
    const ctx = { configDir: dir, registry: host.registry, timeoutMs: 2000 };
    const device = { productKey: 'a1GwDemo01', deviceName: 'gw-001' };
    expect(await readVersion({ name: 'default', version: { file: 'VERSION' } }, device, ctx)).toBe('1.2.3');
    expect(await readVersion({ name: 'app', version: { command: 'echo 4.5; echo other' } }, device, ctx)).toBe('4.5');
    expect(await readVersion({ name: 'mcu', version: { plugin: 'fw' } }, device, ctx)).toBe('7.1');
    await expect(readVersion({ name: 'app', version: { command: 'exit 3' } }, device, ctx)).rejects.toMatchObject({ code: 'OTA_VERSION_UNREADABLE', message: expect.stringContaining('exit 3') });
    await expect(readVersion({ name: 'mcu', version: { plugin: 'other' } }, device, ctx)).rejects.toThrow('plugin "other" does not claim module "mcu"');
    await host.stop();
  });

  it('throttles progress to every few percent, always sending 100', () => {
    const t = new ProgressThrottle(5);
    const sent = [1, 2, 4, 6, 7, 11, 12, 99, 100, 100].filter((p) => t.due(p));
    expect(sent).toEqual([1, 6, 11, 99, 100]);
  });

  it('runs the installer command with the paths appended, and reports its failure, stderr and deadline', async () => {
    const out = join(dir, 'args');
    await runCommand(['/bin/sh', '-c', `echo "$OTA_VERSION $*" > ${out}`, 'sh'], ['/a', '/b'], { OTA_VERSION: '9' }, new AbortController().signal);
    expect(readFileSync(out, 'utf8')).toBe('9 /a /b\n');
    await expect(runCommand(['/bin/sh', '-c', 'echo nope >&2; exit 4'], [], {}, new AbortController().signal)).rejects.toThrow('/bin/sh: exit 4: nope');
    await expect(runCommand(['/bin/sleep', '5'], [], {}, AbortSignal.timeout(100))).rejects.toThrow(/sleep/);
  });

  it('doctor: the staging directory has room for a package, or a warning says it has not', () => {
    const ota = validateConfig({ ...base(), ota: { modules: [{ name: 'default', version: { file: 'v' } }] } }).ota;
    expect(checkOtaStaging(dir, { ...ota, modules: [] })).toEqual([]);
    const [ok] = checkOtaStaging(dir, { ...ota, maxPackageBytes: 1024 });
    expect(ok).toMatchObject({ status: 'ok', check: 'ota' });
    const [warn] = checkOtaStaging(dir, { ...ota, maxPackageBytes: 2 ** 40 });
    expect(warn).toMatchObject({ status: 'warn', text: expect.stringContaining('packages larger than that are refused') });
    // A gateway whose sub-devices alone have modules stages their packages there too.
    const [sub] = checkOtaStaging(dir, { ...ota, modules: [], maxPackageBytes: 1024 }, { a1SubDemo01: [{ name: 'mcu', version: { file: 'v' } }] });
    expect(sub).toMatchObject({ status: 'ok', text: expect.stringContaining('modules a1SubDemo01:mcu') });
  });
});
