/**
 * Sub-device OTA through the gateway (docs/ota.md, "Sub-devices"), on both simulator brokers, through the official
 * cloud SDK: each sub-device's module versions are informed when it first comes online; a job for a sub-device's
 * module is installed by the driver plugin that owns it (progress, then SUCCEEDED on the inform of the new version);
 * a module with a built-in command installer gets the device's own paths; a notice for a module nobody handles, and
 * one for a sub-device whose product has no modules, fail with the reason; the gateway's own OTA works alongside;
 * /healthz lists only the sub-devices with a job or a failure; a download interrupted by a stop resumes at the
 * next start.
 */
import * as $Iot from '@alicloud/iot20180120';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Agent } from '../agent/agent';
import type { AgentConfigInput } from '../agent/config/schema';
import { definePlugin, type OtaJobInfo } from '../handlers/api';
import { createIotClient } from '../simulator/sdk-client';
import type { CloudSimulator } from '../simulator/cloud-simulator';
import type { SimulatorConfigInput } from '../simulator/config/schema';
import { createPackage, staticJob, waitTask } from '../simulator/test/ota-harness';
import { waitFor } from './helpers/brokers';
import { DEVICE } from './agent-support';
import { GATEWAY_TSL, ID, makeAgent, startSimulator, SUB_PRODUCT, type TestAgent } from './agent-e2e-support';
import { bytes, sha256 } from './ota-support';

const SUB_PK = SUB_PRODUCT.productKey;
/** A second sub-device product, with no OTA modules configured. */
const PLAIN_PK = 'a1SubPlain01';
const sub = (deviceName: string, productKey = SUB_PK) => ({ productKey, deviceName });

/** The driver's firmware per sub-device: what runs, and what it was asked to install. */
interface Flash {
  running: Map<string, string>;
  installs: { info: OtaJobInfo; digest: string }[];
}

function driver(flash: Flash) {
  return definePlugin({
    name: 'sensor-driver',
    setup: () => ({
      subDevices: {
        products: [SUB_PK, PLAIN_PK],
        ota: {
          modules: ['default'],
          version: (_m, device) => flash.running.get(device.deviceName) ?? '1.0.0',
          install: (files, info, progress) => {
            if (info.version.includes('bad')) throw new Error('the sensor refused the image');
            flash.installs.push({ info, digest: sha256(readFileSync(files[0]!.path)) });
            progress(50, 'flashing the sensor');
            flash.running.set(info.device.deviceName, info.version);
          },
        },
      },
    }),
  });
}

/** The built-in installer of the `cfg` module: writes the version to the device's own file. */
function cfgInstaller(dir: string): string[] {
  return ['/bin/sh', '-c', `cat "$@" > "${dir}/$OTA_DEVICE_NAME.cfg" && echo "$OTA_VERSION" > "${dir}/{deviceName}.cfg-version"`, 'install'];
}

describe.each(['embedded', 'managed'] as const)('sub-device OTA through the gateway (%s broker)', (mode) => {
  let sim: CloudSimulator;
  let iot: ReturnType<typeof createIotClient>;
  let mqttUrl: string;
  let dir: string;
  let t: TestAgent | undefined;
  const flash: Flash = { running: new Map(), installs: [] };
  const dataDirs = new Set<string>();

  const start = async (ota: Record<string, unknown> = {}, dataDir?: string) => {
    const made = await makeAgent(
      mqttUrl,
      {
        broker: { url: mqttUrl, protocolVersion: mode === 'managed' ? 5 : 4, reconnect: { initialMs: 100, maxMs: 500, stableMs: 1000 }, connectTimeoutMs: 3000 },
        postAfterSet: { enabled: false },
        ...(dataDir ? { dataDir } : {}),
        gateway: {
          products: { [SUB_PK]: { path: SUB_PRODUCT.tsl }, [PLAIN_PK]: { path: SUB_PRODUCT.tsl } },
          otaModules: {
            [SUB_PK]: [
              { name: 'default', version: { plugin: 'sensor-driver' } },
              { name: 'cfg', version: { file: join(dir, '{deviceName}.cfg-version') }, install: { command: cfgInstaller(dir) } },
            ],
          },
        },
        subDevices: [...['s-0001', 's-0002'].map((dn) => ({ ...sub(dn), secret: SUB_PRODUCT.secret })), { ...sub('p-0001', PLAIN_PK), secret: SUB_PRODUCT.secret }],
        health: { enabled: true, port: 0 },
        ota: { modules: [{ name: 'default', version: { file: join(dir, 'GW_VERSION') }, install: { command: ['/bin/sh', '-c', `echo "$OTA_VERSION" > "${dir}/GW_VERSION"`] } }], retryDelayMs: 50, confirmAfterMs: 200, idleTimeoutMs: 5000, blockBytes: 64 * 1024, ...ota },
      },
      { plugins: [{ module: 'sensor-driver', plugin: driver(flash) }] },
    );
    dataDirs.add(made.dataDir);
    await made.agent.start();
    t = made;
    await waitFor(() => made.agent.gateway.counts().online === 3, 10_000, 'the three sub-devices online');
    return made;
  };
  const versions = async (id: { productKey: string; deviceName: string }) => {
    const r = await iot.listOTAModuleVersionsByDevice(new $Iot.ListOTAModuleVersionsByDeviceRequest({ ...id, pageSize: 10 }));
    return Object.fromEntries((r.body?.data?.simpleOTAModuleInfo ?? []).map((m) => [m.moduleName, m.moduleVersion]));
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gateway-ota-'));
    writeFileSync(join(dir, 'GW_VERSION'), '1.0.0\n');
    for (const dn of ['s-0001', 's-0002']) writeFileSync(join(dir, `${dn}.cfg-version`), '0.1\n');
    let httpUrl: string;
    ({ sim, httpUrl, mqttUrl } = await startSimulator(
      {
        mqtt: { mode },
        products: [
          { productKey: ID.productKey, tsl: GATEWAY_TSL, nodeType: 'gateway' },
          { productKey: SUB_PK, tsl: SUB_PRODUCT.tsl, nodeType: 'sub' },
          { productKey: PLAIN_PK, tsl: SUB_PRODUCT.tsl, nodeType: 'sub' },
        ],
        devices: [{ ...ID, deviceSecret: DEVICE.secret }, ...[sub('s-0001'), sub('s-0002'), sub('p-0001', PLAIN_PK)].map((d) => ({ ...d, deviceSecret: SUB_PRODUCT.secret }))],
      } as Partial<SimulatorConfigInput>,
      1,
      { ota: { minuteMs: 60_000, onlinePushDelayMs: 100 } },
    ));
    iot = createIotClient(httpUrl);
    for (const [productKey, moduleName] of [[SUB_PK, 'cfg'], [SUB_PK, 'nobody']]) await iot.createOTAModule(new $Iot.CreateOTAModuleRequest({ productKey, moduleName }));
    await start();
  }, 30_000);

  afterAll(async () => {
    await t?.agent.stop();
    await sim?.stop();
    for (const d of [dir, ...dataDirs]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it("informs each sub-device's module versions when it comes online, and the gateway's own", async () => {
    await waitFor(async () => (await versions(sub('s-0001'))).default === '1.0.0' && (await versions(sub('s-0001'))).cfg === '0.1', 8000, "s-0001's versions");
    await waitFor(async () => (await versions(sub('s-0002'))).cfg === '0.1', 8000, "s-0002's versions");
    await waitFor(async () => (await versions(ID)).default === '1.0.0', 8000, "the gateway's version");
    // A product without modules informs nothing.
    expect(await versions(sub('p-0001', PLAIN_PK))).toEqual({});
  });

  it("updates a sub-device's module through its driver plugin: progress, then SUCCEEDED on the inform", async () => {
    const file = bytes(150_000, 21);
    const firmwareId = await createPackage(iot, sim, { productKey: SUB_PK, files: [file], destVersion: '2.0.0' });
    const jobId = await staticJob(iot, { productKey: SUB_PK, firmwareId, targetDeviceName: ['s-0001'] });
    const task = await waitTask(iot, jobId, 's-0001', 'SUCCEEDED', 15_000);
    expect(task).toMatchObject({ srcVersion: '1.0.0', destVersion: '2.0.0', progress: '100' });
    expect(flash.installs).toEqual([{ info: expect.objectContaining({ device: sub('s-0001'), module: 'default', version: '2.0.0', previousVersion: '1.0.0' }), digest: sha256(file) }]);
    expect((await versions(sub('s-0001'))).default).toBe('2.0.0');
    expect((await versions(sub('s-0002'))).default).toBe('1.0.0');
    const states = t!.log.lines().filter((l) => String(l.msg).startsWith('ota job') && l.device === 'a1SubDemo01/s-0001').map((l) => l.state);
    expect(states).toEqual(expect.arrayContaining(['downloading', 'verified', 'installing']));
  });

  it("installs a module with the built-in command installer into the sub-device's own paths", async () => {
    const file = bytes(3000, 22);
    const firmwareId = await createPackage(iot, sim, { productKey: SUB_PK, files: [file], destVersion: '0.2', moduleName: 'cfg' });
    const jobId = await staticJob(iot, { productKey: SUB_PK, firmwareId, targetDeviceName: ['s-0002'] });
    await waitTask(iot, jobId, 's-0002', 'SUCCEEDED', 15_000);
    expect(readFileSync(join(dir, 's-0002.cfg')).equals(file)).toBe(true);
    expect(readFileSync(join(dir, 's-0002.cfg-version'), 'utf8').trim()).toBe('0.2');
    expect(readFileSync(join(dir, 's-0001.cfg-version'), 'utf8').trim()).toBe('0.1');
    expect((await versions(sub('s-0002'))).cfg).toBe('0.2');
  });

  it('fails a notice for a module nobody handles, and one for a sub-device whose product has no modules, saying why', async () => {
    const fw = await createPackage(iot, sim, { productKey: SUB_PK, files: [bytes(10, 23)], destVersion: '1.0', moduleName: 'nobody' });
    const jobId = await staticJob(iot, { productKey: SUB_PK, firmwareId: fw, targetDeviceName: ['s-0001'] });
    expect((await waitTask(iot, jobId, 's-0001', 'FAILED', 15_000)).taskDesc).toBe(`module "nobody" is not handled by this device (no gateway.otaModules.${SUB_PK} entry)`);
    const plain = await createPackage(iot, sim, { productKey: PLAIN_PK, files: [bytes(10, 24)], destVersion: '9.0' });
    const plainJob = await staticJob(iot, { productKey: PLAIN_PK, firmwareId: plain, targetDeviceName: ['p-0001'] });
    expect((await waitTask(iot, plainJob, 'p-0001', 'FAILED', 15_000)).taskDesc).toBe(`module "default" is not handled by this device (no gateway.otaModules.${PLAIN_PK} entry)`);
  });

  it("updates the gateway's own firmware alongside, and /healthz lists only the sub-devices with a job or failure", async () => {
    const gwFw = await createPackage(iot, sim, { files: [bytes(2000, 25)], destVersion: '1.1.0' });
    const gwJob = await staticJob(iot, { firmwareId: gwFw, targetDeviceName: [ID.deviceName] });
    const bad = await createPackage(iot, sim, { productKey: SUB_PK, files: [bytes(2000, 26)], destVersion: '3.0.0-bad' });
    const badJob = await staticJob(iot, { productKey: SUB_PK, firmwareId: bad, targetDeviceName: ['s-0001'] });
    await waitTask(iot, gwJob, ID.deviceName, 'SUCCEEDED', 15_000);
    expect(readFileSync(join(dir, 'GW_VERSION'), 'utf8').trim()).toBe('1.1.0');
    expect((await waitTask(iot, badJob, 's-0001', 'FAILED', 15_000)).taskDesc).toContain('the sensor refused the image');
    const health = (await (await fetch(`http://127.0.0.1:${t!.agent.healthAddress!.port}/healthz`)).json()) as { subDevices: { ota: unknown[] } };
    expect(health.subDevices.ota).toEqual([{ device: `${SUB_PK}/s-0001`, modules: [expect.objectContaining({ module: 'default', version: '2.0.0', lastFailure: expect.objectContaining({ code: 'OTA_INSTALL_FAILED' }) })] }]);
  });

  it('pushes the jobs queued while sub-devices were offline once they are logged in through the gateway again (no pull)', async () => {
    const dataDir = t!.dataDir;
    await t!.agent.stop();
    const firmwareId = await createPackage(iot, sim, { productKey: SUB_PK, files: [bytes(5000, 28)], destVersion: '2.0.5' });
    const jobId = await staticJob(iot, { productKey: SUB_PK, firmwareId, targetDeviceName: ['s-0002'] });
    // p-0001 informs nothing: only its login through the gateway can have its notice pushed.
    const plain = await createPackage(iot, sim, { productKey: PLAIN_PK, files: [bytes(10, 29)], destVersion: '9.1' });
    const plainJob = await staticJob(iot, { productKey: PLAIN_PK, firmwareId: plain, targetDeviceName: ['p-0001'] });
    expect((await waitTask(iot, plainJob, 'p-0001', 'QUEUED', 2000)).taskStatus).toBe('QUEUED');
    await start({ pullOnStart: false }, dataDir);
    await waitTask(iot, jobId, 's-0002', 'SUCCEEDED', 15_000);
    expect((await waitTask(iot, plainJob, 'p-0001', 'FAILED', 15_000)).taskDesc).toContain('no gateway.otaModules.a1SubPlain01 entry');
  }, 30_000);

  it("resumes a sub-device's download that a stop interrupted, at the next start", async () => {
    const file = bytes(400_000, 27);
    const firmwareId = await createPackage(iot, sim, { productKey: SUB_PK, files: [file], destVersion: '2.1.0' });
    const dataDir = t!.dataDir;
    await t!.agent.stop();
    await start({ retryDelayMs: 60_000 }, dataDir);
    sim.ota.setFault(firmwareId, { dropAfterBytes: 150_000 });
    const jobId = await staticJob(iot, { productKey: SUB_PK, firmwareId, targetDeviceName: ['s-0002'] });
    await waitFor(() => t!.log.lines().some((l) => l.msg === 'ota download interrupted; resuming'), 8000, 'the dropped download');
    await t!.agent.stop();
    await start({}, dataDir);
    await waitTask(iot, jobId, 's-0002', 'SUCCEEDED', 15_000);
    const resumed = sim.ota.downloads(firmwareId).filter((r) => r.channel === 'https' && r.status === 206);
    expect(resumed.length).toBe(1);
    expect(resumed[0]!.start).toBeGreaterThan(0);
    expect(flash.installs.at(-1)).toEqual({ info: expect.objectContaining({ device: sub('s-0002'), version: '2.1.0' }), digest: sha256(file) });
  }, 40_000);

  it("stops a removed sub-device's OTA and forgets its job and staged package", async () => {
    const dataDir = t!.dataDir;
    await t!.agent.stop();
    await start({ retryDelayMs: 60_000 }, dataDir);
    const firmwareId = await createPackage(iot, sim, { productKey: SUB_PK, files: [bytes(300_000, 30)], destVersion: '2.2.0' });
    sim.ota.setFault(firmwareId, { dropAfterBytes: 100_000 });
    await staticJob(iot, { productKey: SUB_PK, firmwareId, targetDeviceName: ['s-0002'] });
    await waitFor(() => t!.log.lines().some((l) => l.msg === 'ota download interrupted; resuming' && l.device === `${SUB_PK}/s-0002`), 8000, 'the dropped download');
    const gw = t!.agent.gateway;
    expect(gw.otaStatus().find((d) => d.device === `${SUB_PK}/s-0002`)?.modules[0]?.job).toMatchObject({ version: '2.2.0', state: 'downloading' });
    const staged = join(dataDir, 'ota', `${SUB_PK}+s-0002`, 'default');
    expect(existsSync(staged)).toBe(true);
    await gw.api.remove(sub('s-0002'));
    await waitFor(() => t!.log.lines().some((l) => l.msg === 'ota of a removed sub-device stopped'), 5000, 'the OTA of s-0002 stopped');
    expect(gw.otaStatus().map((d) => d.device)).not.toContain(`${SUB_PK}/s-0002`);
    expect(existsSync(staged)).toBe(false);
  }, 30_000);
});

describe('gateway.otaModules and the plugins', () => {
  it('refuses to start when a plugin version source names a plugin that does not claim the module', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gateway-ota-claim-'));
    try {
      const plain = definePlugin({ name: 'plain-driver', setup: () => ({ subDevices: { products: [SUB_PK] } }) });
      const create = Agent.create(
        {
          device: { productKey: ID.productKey, deviceName: ID.deviceName, secret: DEVICE.secret },
          broker: { url: 'mqtt://127.0.0.1:9' },
          thingModel: { path: GATEWAY_TSL },
          dataDir,
          gateway: { products: { [SUB_PK]: { path: SUB_PRODUCT.tsl } }, otaModules: { [SUB_PK]: [{ name: 'default', version: { plugin: 'plain-driver' } }] } },
        } as AgentConfigInput,
        { logger: pino({ level: 'silent' }), plugins: [{ module: 'plain-driver', plugin: plain }] },
      );
      await expect(create).rejects.toThrow(`gateway.otaModules.${SUB_PK}.0.version: plugin "plain-driver" does not claim module "default" in its subDevices.ota.modules`);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
