/**
 * Plugins from npm, as a plugin author and a gateway operator would do it (docs/plugins.md): the project is built
 * and packed (`npm pack`), the tarball installed in a temporary application folder from the npm registry
 * (production dependencies; better-sqlite3 builds from source), next to two plugin packages made there and
 * installed from their own tarballs:
 *   - `cjs-driver`, TypeScript compiled to CommonJS against the installed package's types (`exports` → types),
 *     claiming every service (`'*'`), with its own second copy of alink-agent in its node_modules;
 *   - `@acme/esm-plugin`, an ES module (`"type": "module"`, ESM-only `exports`), claiming two properties.
 * Both import `definePlugin` and `HandlerError` from 'alink-agent'. The agent runs as `node_modules/.bin/alink-agent
 * run` against the cloud simulator, and the official cloud SDK drives it: a sync service answered by the npm
 * plugin, a `HandlerError` code from it reaching the SDK caller (through the second copy of the API), a property
 * set applied by the ESM plugin and shown by QueryDevicePropertyStatus, and a refused set with its code.
 *
 * Time: 2.5-4 minutes on 2 shared cores (measured 144-236 s in four runs): the build 10-25 s, `npm install` of the
 * tarball 120-200 s (better-sqlite3 and the notify addon compile from source), the rest a few seconds. Out of the fast run: `npx jest -c test/deploy/jest.config.js test/deploy/plugin-npm.deploy.ts`.
 */
import * as $Iot from '@alicloud/iot20180120';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { CloudSimulator } from '../../simulator/cloud-simulator';
import { createIotClient, longCallRuntime } from '../../simulator/sdk-client';

const REPO = resolve(__dirname, '..', '..');
const DEVICE = { productKey: 'a1GwDemo01', deviceName: 'gw-001', secret: '3f6c0a9d27b84e1c95d2a7e41b08c6f3' };
const ID = { productKey: DEVICE.productKey, deviceName: DEVICE.deviceName };

/** npm and node without the npm_* variables of the jest run that started us (npx sets some). */
const childEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): string {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: childEnv(), maxBuffer: 64 * 1024 * 1024 });
  const took = `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  if (r.status !== 0) {
    const tail = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.trimEnd().split('\n').slice(-40).join('\n');
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed after ${took}: ${r.error?.message ?? `exit ${r.status}`}\n${tail}`);
  }
  process.stderr.write(`plugin-npm: ${cmd} ${args.join(' ')}: ${took}\n`);
  return r.stdout;
}

function write(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(200);
  }
}

const CJS_DRIVER_TS = `import { definePlugin, HandlerError, type CallContext } from 'alink-agent';

export default definePlugin<{ offset: number }>({
  name: 'cjs-driver',
  optionsSchema: { type: 'object', additionalProperties: false, properties: { offset: { type: 'number', default: 0.5 } } },
  setup(ctx) {
    // @ts-expect-error the package's declarations reach the plugin: an instance name is a string
    const typed: number = ctx.name;
    void typed;
    ctx.logger.info({ api: require.resolve('alink-agent') }, 'cjs-driver set up');
    return {
      services: {
        '*': (input: Record<string, unknown>, call: CallContext) => {
          if (call.service === 'Calibrate') {
            return { Success: 1, Offset: ctx.options.offset, CalibratedAt: '1767225600000', Message: 'cjs-driver calibrated sensor ' + String(input.Sensor) };
          }
          if (call.service === 'ReadChannels') throw new HandlerError('field bus offline', 100321);
          return undefined;
        },
      },
    };
  },
});
`;

const ESM_PLUGIN_JS = `import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { definePlugin, HandlerError } from 'alink-agent';

export default definePlugin({
  name: 'esm-settings',
  setup(ctx) {
    const file = join(ctx.dataDir, 'applied.jsonl');
    return {
      properties: {
        ids: ['ReportInterval', 'WorkMode'],
        async apply(values) {
          if (values.WorkMode === 2) throw new HandlerError('maintenance mode needs a technician on site', 100777);
          await appendFile(file, JSON.stringify(values) + '\\n');
        },
      },
    };
  },
});
`;

describe('plugins installed from npm next to the packed agent', () => {
  let work: string;
  let app: string;
  let sim: CloudSimulator;
  let agent: ChildProcess | undefined;
  let agentLog = '';
  let iot: ReturnType<typeof createIotClient>;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'plugin-npm-'));
    app = join(work, 'gateway');
    mkdirSync(app);

    run(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], REPO, 10 * 60_000);
    const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], REPO, 5 * 60_000)) as { filename: string; files: { path: string }[] }[];
    const tarball = join(work, packed[0]!.filename);
    const files = packed[0]!.files.map((f) => f.path);
    // What a published package holds: the API with its declarations, the runtime, the native sources; no tests.
    expect(files).toEqual(expect.arrayContaining(['dist/handlers/api/index.js', 'dist/handlers/api/index.d.ts', 'dist/agent/cli/main.js', 'native/src/notify.c', 'native/binding.gyp', 'README.md']));
    expect(files.filter((f) => /\.test\.|__fixtures__|__tests__|^test\/|^dist\/test\/|^bench\/|^dist\/bench\//.test(f))).toEqual([]);

    write(join(app, 'package.json'), JSON.stringify({ name: 'gateway-app', version: '1.0.0', private: true }, null, 2));
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], app, 15 * 60_000);

    // The plugins, each a package of its own, built against the installed alink-agent and packed.
    // Their sources sit in the application folder (as in a monorepo), so 'alink-agent' resolves to the installed one.
    const cjsDir = join(app, 'plugins', 'cjs-driver');
    write(join(cjsDir, 'package.json'), JSON.stringify({ name: 'cjs-driver', version: '1.0.0', main: 'dist/index.js', files: ['dist'], peerDependencies: { 'alink-agent': '>=0.1.0' } }, null, 2));
    write(join(cjsDir, 'src', 'index.ts'), CJS_DRIVER_TS);
    write(
      join(cjsDir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'node16',
          moduleResolution: 'node16',
          strict: true,
          outDir: 'dist',
          rootDir: 'src',
          skipLibCheck: true,
          typeRoots: [join(REPO, 'node_modules', '@types')],
          types: ['node'],
        },
        include: ['src'],
      }),
    );
    run(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], cjsDir, 5 * 60_000);
    const esmDir = join(app, 'plugins', 'esm-plugin');
    write(join(esmDir, 'package.json'), JSON.stringify({ name: '@acme/esm-plugin', version: '1.0.0', type: 'module', exports: { '.': { import: './index.js' } }, peerDependencies: { 'alink-agent': '>=0.1.0' } }, null, 2));
    write(join(esmDir, 'index.js'), ESM_PLUGIN_JS);
    const pluginTarballs = [cjsDir, esmDir].map((dir) => join(work, (JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], dir, 60_000)) as { filename: string }[])[0]!.filename));
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...pluginTarballs], app, 10 * 60_000);

    // A second copy of the plugin API, as npm makes when a plugin pins another version: the driver loads its own.
    const own = join(app, 'node_modules', 'cjs-driver', 'node_modules', 'alink-agent');
    mkdirSync(own, { recursive: true });
    for (const entry of ['package.json', 'dist']) cpSync(join(app, 'node_modules', 'alink-agent', entry), join(own, entry), { recursive: true });

    sim = new CloudSimulator({
      accessKeys: [{ id: 'testAK', secret: 'testSecret' }],
      products: [{ productKey: DEVICE.productKey, tsl: join(app, 'node_modules', 'alink-agent', 'simulator', 'tsl', 'example-gateway.json') }],
      devices: [{ productKey: DEVICE.productKey, deviceName: DEVICE.deviceName, deviceSecret: DEVICE.secret }],
      cloudValidation: false,
      log: { level: 'silent' },
    });
    const urls = await sim.start();
    iot = createIotClient(urls.httpUrl);

    write(
      join(app, 'agent.json'),
      JSON.stringify({
        device: { productKey: DEVICE.productKey, deviceName: DEVICE.deviceName, secret: DEVICE.secret },
        broker: { url: urls.mqttUrl, reconnect: { initialMs: 100, maxMs: 1000, stableMs: 1000 }, connectTimeoutMs: 5000 },
        thingModel: { path: 'node_modules/alink-agent/simulator/tsl/example-gateway.json' },
        dataDir: join(work, 'data'),
        log: { level: 'info' },
        handlers: [{ module: 'cjs-driver', options: { offset: 0.75 } }, { module: '@acme/esm-plugin' }],
      }),
    );
    agent = spawn(join(app, 'node_modules', '.bin', 'alink-agent'), ['run', '--config', 'agent.json'], { cwd: app, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    agent.stdout?.on('data', (d: Buffer) => (agentLog += d.toString()));
    agent.stderr?.on('data', (d: Buffer) => (agentLog += d.toString()));
    await until('the agent online at the simulator', 60_000, async () => {
      if (agent?.exitCode !== null) throw new Error(`the agent exited ${agent?.exitCode}:\n${agentLog}`);
      if (!agentLog.includes('agent ready: a1GwDemo01/gw-001 connected')) return undefined;
      const s = await iot.getDeviceStatus(new $Iot.GetDeviceStatusRequest(ID));
      return s.body.data?.status === 'ONLINE' ? true : undefined;
    });
  });

  afterAll(async () => {
    if (agent && agent.exitCode === null) {
      const exited = new Promise((r) => agent?.once('exit', r));
      agent.kill('SIGTERM');
      await Promise.race([exited, sleep(15_000)]);
      if (agent.exitCode === null) agent.kill('SIGKILL');
    }
    await sim?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('loaded both plugins by package name, the driver with its own copy of the API', () => {
    expect(existsSync(join(app, 'node_modules', 'cjs-driver', 'dist', 'index.js'))).toBe(true);
    expect(readdirSync(join(app, 'node_modules', 'cjs-driver', 'node_modules'))).toEqual(['alink-agent']);
    expect(agentLog).not.toMatch(/PLUGIN_|"level":50/);
    // The driver's require('alink-agent') found its own copy, not the agent's.
    expect(agentLog).toContain(`"api":"${join(app, 'node_modules', 'cjs-driver', 'node_modules', 'alink-agent', 'dist', 'handlers', 'api', 'index.js')}"`);
  });

  it("answers a sync service through the npm plugin's '*' claim", async () => {
    const res = await iot.invokeThingServiceWithOptions(
      new $Iot.InvokeThingServiceRequest({ ...ID, identifier: 'Calibrate', args: JSON.stringify({ Sensor: 2, ReferenceValue: 25.0, SettleSeconds: 1 }) }),
      longCallRuntime(),
    );
    expect({ success: res.body.success, error: res.body.errorMessage }).toEqual({ success: true });
    expect(JSON.parse(res.body.data?.result ?? '{}')).toEqual({ Success: 1, Offset: 0.75, CalibratedAt: '1767225600000', Message: 'cjs-driver calibrated sensor 2' });
  });

  it("brings a HandlerError's code from the plugin's own copy of the API to the cloud caller", async () => {
    const res = await iot.invokeThingServiceWithOptions(new $Iot.InvokeThingServiceRequest({ ...ID, identifier: 'ReadChannels', args: JSON.stringify({ Channels: [1, 2] }) }), longCallRuntime());
    expect(res.body.success).toBe(false);
    expect(res.body.code).toBe('iot.device.InvokeThingServiceFailed');
    expect(res.body.errorMessage).toContain('with code 100321: field bus offline');
  });

  it('applies a property set through the ESM plugin, and the cloud shows the new value', async () => {
    const set = await iot.setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...ID, items: JSON.stringify({ ReportInterval: 120, WorkMode: 1 }) }));
    expect(set.body.success).toBe(true);
    const reply = await sim.waitForDeviceReply(ID, (r) => r.kind === 'propertySetReply' && r.id === set.body.data?.messageId, 10_000);
    expect(reply.code).toBe(200);
    expect(readFileSync(join(work, 'data', 'plugins', 'esm-settings', 'applied.jsonl'), 'utf8')).toBe('{"ReportInterval":120,"WorkMode":1}\n');
    const shown = await until('QueryDevicePropertyStatus showing ReportInterval 120', 15_000, async () => {
      const q = await iot.queryDevicePropertyStatus(new $Iot.QueryDevicePropertyStatusRequest(ID));
      const v = q.body.data?.list?.propertyStatusInfo?.find((p) => p.identifier === 'ReportInterval')?.value;
      return v === '120' ? v : undefined;
    });
    expect(shown).toBe('120');
  });

  it("refuses a set with the ESM plugin's HandlerError code", async () => {
    const set = await iot.setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...ID, items: JSON.stringify({ WorkMode: 2 }) }));
    const reply = await sim.waitForDeviceReply(ID, (r) => r.kind === 'propertySetReply' && r.id === set.body.data?.messageId, 10_000);
    expect(reply).toMatchObject({ code: 100777, message: 'maintenance mode needs a technician on site' });
  });

  it('stops cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((r) => agent?.once('exit', (code) => r(code)));
    agent?.kill('SIGTERM');
    expect(await Promise.race([exited, sleep(20_000).then(() => 'still running')])).toBe(0);
  });
});
