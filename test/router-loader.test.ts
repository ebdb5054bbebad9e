/**
 * The plugin loader: option validation, claim conflicts and unknown identifiers, module resolution, time limits,
 * reload; and the built-in system-info plugin against a fake sysfs tree, posting through a real broker.
 */
import { postHandle, publishHandle } from '../agent/upstream/handles';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { definePlugin, type AlinkPlugin, type Upstream } from '../handlers/api';
import { loadPlugins, type PluginConfig } from '../agent/plugins/loader';
import { coerce, cpuTemperature } from '../handlers/builtin/system-info';
import { exampleModel, PK, DN, startHarness, SYS, sleep } from './router-harness';
import { waitFor } from './helpers/brokers';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'loader-test-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function load(configs: PluginConfig[], extra: { startTimeoutMs?: number; stopTimeoutMs?: number; logger?: pino.Logger } = {}) {
  return loadPlugins(configs, {
    model: exampleModel(),
    identity: { productKey: PK, deviceName: DN },
    logger: extra.logger ?? pino({ level: 'silent' }),
    dataDir: tempDir(),
    configDir: __dirname,
    startTimeoutMs: extra.startTimeoutMs,
    stopTimeoutMs: extra.stopTimeoutMs,
  });
}

const inline = (plugin: AlinkPlugin<never>, options?: unknown, name?: string): PluginConfig => ({ module: plugin.name, plugin, options, name });

const STORED = { acked: Promise.resolve(), durable: false };

/** A fake upstream that records property posts. */
function recordingUpstream(): Upstream & { posts: Record<string, unknown>[] } {
  const posts: Record<string, unknown>[] = [];
  return {
    posts,
    postProperties: (values) => {
      posts.push(values);
      return postHandle(Promise.resolve({ id: String(posts.length), code: 200, data: {} }), Promise.resolve(STORED));
    },
    postEvent: () => postHandle(Promise.resolve({ id: '0', code: 200, data: {} }), Promise.resolve(STORED)),
    publish: () => publishHandle(Promise.resolve(STORED)),
    publishRaw: () => publishHandle(Promise.resolve(STORED)),
    updateTags: async () => ({ id: '0', code: 200, data: {} }),
    deleteTags: async () => ({ id: '0', code: 200, data: {} }),
    now: () => Date.now(),
    postBatch: () => postHandle(Promise.resolve({ id: '0', code: 200, data: {} }), Promise.resolve(STORED)),
  };
}

const withOptions = definePlugin<{ threshold: number; mode: string }>({
  name: 'with-options',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['threshold'],
    properties: { threshold: { type: 'integer', minimum: 0 }, mode: { type: 'string', default: 'auto' }, nested: { type: 'object', properties: { depth: { type: 'integer' } } } },
  },
  setup: () => ({}),
});

const claims = (name: string, inst: object): AlinkPlugin<never> => definePlugin({ name, setup: () => inst }) as AlinkPlugin<never>;

describe('plugin loader', () => {
  it.each([
    [{ threshold: 'x' }, 'plugin "with-options": option "threshold" must be integer'],
    [{}, 'plugin "with-options": option "threshold" is required'],
    [{ threshold: 1, colour: 'red' }, 'plugin "with-options": option "colour" is not allowed'],
    [{ threshold: 1, nested: { depth: 'deep' } }, 'plugin "with-options": option "nested.depth" must be integer'],
    ['oops', 'plugin "with-options": options must be object'],
  ])('refuses options %j with a one-line error', async (options, message) => {
    await expect(load([inline(withOptions as AlinkPlugin<never>, options)])).rejects.toMatchObject({ name: 'PluginError', code: 'PLUGIN_CONFIG_INVALID', message });
  });

  it('applies schema defaults and adds the property store implicitly', async () => {
    let seen: unknown;
    const p = definePlugin<{ threshold: number; mode: string }>({ ...withOptions, setup: (ctx) => ((seen = ctx.options), {}) });
    const host = await load([inline(p as AlinkPlugin<never>, { threshold: 3 })]);
    expect(seen).toEqual({ threshold: 3, mode: 'auto' });
    expect(host.names).toEqual(['with-options', 'property-store']);
    // Every rw property has an owner: the property store takes the rest.
    expect(host.registry.properties.get('WorkMode')?.name).toBe('property-store');
    expect(host.registry.properties.has('Temperature')).toBe(false);
  });

  it.each([
    [claims('a', { properties: { ids: ['WorkMode'], apply() {} } }), claims('b', { properties: { ids: ['ReportInterval', 'WorkMode'], apply() {} } }), 'property "WorkMode" is claimed by both plugin "a" and plugin "b"'],
    [claims('a', { services: { Reboot: () => ({}) } }), claims('b', { services: { Reboot: () => ({}) } }), 'service "Reboot" is claimed by both plugin "a" and plugin "b"'],
    [claims('a', { customTopics: { 'cmd/+': () => undefined } }), claims('b', { customTopics: { [`/${PK}/${DN}/user/cmd/+`]: () => undefined } }), `custom topic "/${PK}/${DN}/user/cmd/+" is claimed by both plugin "a" and plugin "b"`],
    [claims('a', { rrpc: { raw: () => '' } }), claims('b', { rrpc: { raw: () => '' } }), 'raw RRPC is claimed by both plugin "a" and plugin "b"'],
    [claims('a', { rrpc: { topics: { get: () => '' } } }), claims('b', { rrpc: { topics: { get: () => '' } } }), `RRPC topic "/${PK}/${DN}/user/get" is claimed by both plugin "a" and plugin "b"`],
    [claims('a', { properties: { ids: '*', apply() {} } }), claims('b', {}), `both plugin "a" and plugin "property-store" claim every unclaimed property ('*')`],
  ])('refuses duplicate claims naming both plugins (%#)', async (a, b, message) => {
    await expect(load([inline(a), inline(b)])).rejects.toMatchObject({ name: 'PluginError', code: 'PLUGIN_CLAIM_INVALID', message });
  });

  it.each([
    [{ properties: { ids: ['FanSpeed'], apply() {} } }, 'plugin "x" claims property "FanSpeed", which the Thing Model does not define'],
    [{ properties: { ids: ['Temperature'], apply() {} } }, 'plugin "x" claims property "Temperature" for set, but it is read-only'],
    [{ services: { SelfDestruct: () => ({}) } }, 'plugin "x" claims service "SelfDestruct", which the Thing Model does not define'],
    [{ customTopics: { '/other/dev/user/x': () => undefined } }, `plugin "x" custom topic "/other/dev/user/x": not under /${PK}/${DN}/user/`],
    [{ customTopics: { 'a/#/b': () => undefined } }, `plugin "x" custom topic "a/#/b": '#' must be a whole last level`],
  ])('refuses claims the Thing Model cannot satisfy (%#)', async (inst, message) => {
    await expect(load([inline(claims('x', inst))])).rejects.toMatchObject({ name: 'PluginError', code: 'PLUGIN_CLAIM_INVALID', message });
  });

  it('names the module when it cannot be loaded or exports no plugin', async () => {
    await expect(load([{ module: './no-such-plugin' }])).rejects.toThrow(/^handlers\.0\.module "\.\/no-such-plugin": not found: no file at .*no-such-plugin/);
    await expect(load([{ module: './no-such-plugin' }])).rejects.toMatchObject({ code: 'PLUGIN_LOAD_FAILED' });
    const dir = tempDir();
    writeFileSync(join(dir, 'not-a-plugin.js'), 'module.exports = { hello: 1 };\n');
    await expect(load([{ module: join(dir, 'not-a-plugin.js') }])).rejects.toThrow(/^handlers\.0\.module ".*not-a-plugin\.js": .*not-a-plugin\.js exports no plugin \(expected a default export or an export named "plugin": an object with "name" \(a string\) and "setup" \(a function\).*it exports "hello"\)$/);
    writeFileSync(join(dir, 'cjs-plugin.js'), "module.exports = { name: 'cjs', setup: () => ({}) };\n");
    expect((await load([{ module: join(dir, 'cjs-plugin.js') }])).names).toEqual(['cjs', 'property-store']);
  });

  it('refuses the same instance name twice, and loads one plugin twice under two names', async () => {
    const p = claims('twin', {});
    await expect(load([inline(p), inline(p)])).rejects.toThrow('plugin "twin" is configured twice');
    expect((await load([inline(p), inline(p, undefined, 'twin-2')])).names).toEqual(['twin', 'twin-2', 'property-store']);
  });

  it('names the plugin whose setup fails', async () => {
    const bad = definePlugin({
      name: 'broken',
      setup: () => {
        throw new Error('no serial port');
      },
    });
    await expect(load([inline(bad as AlinkPlugin<never>)])).rejects.toMatchObject({ code: 'PLUGIN_HOOK_FAILED', message: 'plugin "broken" failed to set up: no serial port' });
  });

  it('enforces the start time limit and stops what already started', async () => {
    const events: string[] = [];
    const first = definePlugin({ name: 'first', setup: () => ({ start: () => void events.push('first:start'), stop: () => void events.push('first:stop') }) });
    const slow = definePlugin({ name: 'slow', startTimeoutMs: 100, setup: (ctx) => ({ start: () => new Promise<void>((r) => ctx.signal.addEventListener('abort', () => (events.push('slow:aborted'), r()))) }) });
    const host = await load([inline(first as AlinkPlugin<never>), inline(slow as AlinkPlugin<never>)]);
    const t0 = Date.now();
    await expect(host.start(recordingUpstream())).rejects.toMatchObject({ code: 'PLUGIN_TIMEOUT', message: 'plugin "slow" did not start within 100 ms' });
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(events).toEqual(['first:start', 'slow:aborted', 'first:stop']);
  });

  it('logs and survives a plugin that does not stop in time', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }));
    const stuck = definePlugin({ name: 'stuck', stopTimeoutMs: 50, setup: () => ({ stop: () => new Promise<void>(() => undefined) }) });
    const host = await load([inline(stuck as AlinkPlugin<never>)], { logger });
    await host.start(recordingUpstream());
    await host.stop();
    expect(lines.join('')).toContain('plugin \\"stuck\\" did not stop within 50 ms');
  });

  it('gives ctx.upstream only from start on', async () => {
    const early = definePlugin({ name: 'early', setup: (ctx) => (void ctx.upstream, {}) });
    await expect(load([inline(early as AlinkPlugin<never>)])).rejects.toThrow('ctx.upstream is usable from start() on');
  });

  it('reloads options through the hook, or by stop + setup + start, without changing claims', async () => {
    const hooked: unknown[] = [];
    const lifecycle: string[] = [];
    const withHook = definePlugin<{ level: number }>({
      name: 'hooked',
      optionsSchema: { type: 'object', properties: { level: { type: 'integer', default: 1 } } },
      setup: () => ({ reload: (o) => void hooked.push(o) }),
    });
    const restartable = definePlugin<{ topic: string }>({
      name: 'restartable',
      optionsSchema: { type: 'object', properties: { topic: { type: 'string', default: 'a' } } },
      setup: (ctx) => {
        lifecycle.push(`setup:${ctx.options.topic}`);
        return { customTopics: { [ctx.options.topic === 'moved' ? 'moved' : 'a']: () => undefined }, start: () => void lifecycle.push('start'), stop: () => void lifecycle.push('stop') };
      },
    });
    const configs = (level: unknown, topic: string): PluginConfig[] => [
      { module: 'hooked', plugin: withHook, options: { level } },
      { module: 'restartable', plugin: restartable, options: { topic } },
    ];
    const host = await load(configs(1, 'a'));
    await host.start(recordingUpstream());
    await host.reload(configs(2, 'a'));
    expect(hooked).toEqual([{ level: 2 }]);
    await host.reload(configs(2, 'b'));
    expect(lifecycle).toEqual(['setup:a', 'start', 'setup:b', 'stop', 'start']);
    await expect(host.reload(configs('high', 'b'))).rejects.toThrow('plugin "hooked": option "level" must be integer');
    await expect(host.reload(configs(3, 'moved'))).rejects.toThrow('plugin "restartable": new options change its claims; restart the agent to apply them');
    await expect(host.reload([{ module: 'hooked', plugin: withHook }])).rejects.toThrow('reload cannot remove plugin "restartable"');
    await expect(host.reload([...configs(2, 'b'), { module: 'system-info', options: { map: { hostname: 'FirmwareVersion' } } }])).rejects.toThrow('reload cannot add plugin "system-info"');
    expect(hooked).toEqual([{ level: 2 }]);
    await host.stop();
  });
});

describe('built-in system-info', () => {
  function fakeSysfs(zones: { type: string; temp: string }[]): string {
    const root = tempDir();
    zones.forEach((z, i) => {
      const d = join(root, 'class', 'thermal', `thermal_zone${i}`);
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'type'), `${z.type}\n`);
      writeFileSync(join(d, 'temp'), `${z.temp}\n`);
    });
    return root;
  }

  it('reads the CPU zone, else the first readable one', async () => {
    expect(await cpuTemperature(fakeSysfs([{ type: 'acpitz', temp: '30000' }, { type: 'x86_pkg_temp', temp: '47250' }]))).toBe(47.25);
    expect(await cpuTemperature(fakeSysfs([{ type: 'acpitz', temp: 'garbage' }, { type: 'pch', temp: '41000' }]))).toBe(41);
    expect(await cpuTemperature(tempDir())).toBeUndefined();
  });

  it('coerces facts to TSL types', () => {
    expect(coerce(47.25, { type: 'float', specs: { min: '-40', max: '85', step: '0.1' } })).toBe(47.3);
    expect(coerce(12.6, { type: 'int', specs: { min: '0', max: '1000', step: '1' } })).toBe(13);
    expect(coerce(1700000000000.4, { type: 'date', specs: {} })).toBe('1700000000000');
    expect(coerce('gw', { type: 'text', specs: { length: '64' } })).toBe('gw');
    expect(coerce(0.2, { type: 'bool', specs: {} })).toBe(1);
  });

  it('refuses a map onto a property the Thing Model lacks, or a struct', async () => {
    await expect(load([{ module: 'system-info', options: { map: { cpuTemp: 'CpuTemp' } } }])).rejects.toThrow(
      'plugin "system-info" failed to set up: option "map.cpuTemp": property "CpuTemp" is not in the Thing Model',
    );
    await expect(load([{ module: 'system-info', options: { map: { uptime: 'GatewayStatus' } } }])).rejects.toThrow('property "GatewayStatus" is a struct');
    await expect(load([{ module: 'system-info', options: { map: { cpuTemp: 'Temperature' }, intervalMs: 10 } }])).rejects.toThrow('option "intervalMs" must be >= 1000');
  });

  it('posts facts through a real broker, skipping (and logging once) values that do not fit', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }));
    const sysfsRoot = fakeSysfs([{ type: 'x86_pkg_temp', temp: '47250' }]);
    const h = await startHarness({
      broker: 'aedes',
      logger,
      plugins: [{ module: 'system-info', options: { intervalMs: 1000, sysfsRoot, map: { cpuTemp: 'Temperature', memUsedPercent: 'Humidity', hostname: 'FirmwareVersion', memTotalKB: 'PM25' } } }],
    });
    try {
      const posts = await waitFor(() => {
        const p = h.on(`${SYS}/thing/event/property/post`);
        return p.length >= 2 ? p : undefined;
      }, 3000, 'two system-info posts');
      for (const p of posts) {
        const params = p.json?.params as Record<string, unknown>;
        expect(params.Temperature).toBe(47.3);
        expect(typeof params.Humidity).toBe('number');
        expect(typeof params.FirmwareVersion).toBe('string');
        expect(params.PM25).toBeUndefined();
        expect(p.payload.toString()).toContain('"Temperature":47.3');
      }
      const skips = lines.filter((l) => l.includes('fact memTotalKB does not fit property PM25'));
      expect(skips).toHaveLength(1);
    } finally {
      await h.close();
    }
    await sleep(10);
  });
});
