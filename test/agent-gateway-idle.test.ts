/**
 * An agent with nothing of a gateway configured (no `subDevices`, `gateway.products` or `gateway.otaModules`, no
 * plugin claiming sub-devices) and no `ota.modules` never loads agent/gateway or the OTA client
 * (docs/performance.md, "RSS of a connected agent"); `ctx.gateway` still answers as a disabled gateway does.
 * The modules loaded are read in a child process, whose require cache is the real one.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Agent } from '../agent/agent';
import type { AgentConfigInput } from '../agent/config/schema';
import { DEVICE } from './agent-support';

const REPO = resolve(__dirname, '..');
const TSL = join(REPO, 'simulator', 'tsl', 'example-gateway.json');

function configIn(dir: string, extra: Record<string, unknown> = {}): AgentConfigInput {
  return { device: DEVICE, broker: { url: 'mqtt://127.0.0.1:1' }, thingModel: { path: TSL }, dataDir: dir, log: { level: 'silent' as const }, ...extra };
}

/** The repository modules under agent/gateway/ and agent/ota/ an agent built (not started) from `config` holds. */
function loadedBy(config: AgentConfigInput): string[] {
  const script = `
    const { Agent } = require('./agent/agent');
    Agent.create(${JSON.stringify(config)}).then(async (a) => {
      const mine = Object.keys(require.cache).map((k) => k.slice(${JSON.stringify(REPO + '/')}.length)).filter((k) => /^agent\\/(gateway|ota)\\//.test(k));
      process.stdout.write(JSON.stringify(mine));
      await a.stop();
    }, (e) => { process.stderr.write(String(e)); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['-r', './test/helpers/ts-register.js', '-e', script], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`child exited ${String(r.status)}: ${r.stderr}`);
  return JSON.parse(r.stdout) as string[];
}

describe('an agent without a gateway', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'gw-idle-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('loads neither agent/gateway nor the OTA client; a configured product or ota.modules loads each', () => {
    // The stores' tables (agent/ota/store, agent/gateway/sessions/store) are part of every data directory.
    expect(loadedBy(configIn(join(dir, 'a'))).sort()).toEqual(['agent/gateway/sessions/store.ts', 'agent/ota/store.ts']);
    const gw = loadedBy(configIn(join(dir, 'b'), { gateway: { products: { a1Meter0001: { path: TSL } } } }));
    expect(gw).toContain('agent/gateway/index.ts');
    expect(gw).toContain('agent/ota/device.ts');
    const ota = loadedBy(configIn(join(dir, 'c'), { ota: { modules: [{ name: 'default', version: { command: 'echo 1.0' }, install: { command: ['/bin/true'] } }] } }));
    expect(ota).toContain('agent/ota/device.ts');
    expect(ota).not.toContain('agent/gateway/index.ts');
  });

  it('answers ctx.gateway as a disabled gateway does, building it on the first call', async () => {
    const idle = await Agent.create(configIn(join(dir, 'idle')));
    // A configured product and no sub-device: the real gateway, built at start and disabled, to compare with.
    const real = await Agent.create(configIn(join(dir, 'real'), { gateway: { products: { a1Meter0001: { path: TSL } } } }));
    try {
      expect(idle.gateway.enabled).toBe(false);
      expect(real.gateway.enabled).toBe(false);
      expect(idle.gateway.api.list()).toEqual([]);
      const sub = { productKey: 'a1Meter0001', deviceName: 'meter-01' };
      await expect(idle.gateway.api.add(sub)).rejects.toMatchObject({ code: 'GATEWAY_UNKNOWN_PRODUCT', message: expect.stringContaining('none configured') });
      const other = { productKey: 'a1Other0001', deviceName: 'meter-01' };
      await expect(real.gateway.api.add(other)).rejects.toMatchObject({ code: 'GATEWAY_UNKNOWN_PRODUCT', message: expect.stringContaining('a1Meter0001') });
      expect(real.gateway.api.list()).toEqual([]);
      expect(idle.gateway.api.status(sub)).toBeUndefined();
      expect(real.gateway.api.status(sub)).toBeUndefined();
      expect(idle.gateway.api.model('a1Meter0001')).toBeUndefined();
      expect(real.gateway.api.model('a1Meter0001')).toBeDefined();
      expect(() => idle.gateway.api.upstream(sub)).toThrow(expect.objectContaining({ code: 'GATEWAY_UNKNOWN_DEVICE' }) as Error);
      expect(() => real.gateway.api.upstream(sub)).toThrow(expect.objectContaining({ code: 'GATEWAY_UNKNOWN_DEVICE' }) as Error);
      expect(idle.gateway.counts()).toEqual({ pending: 0, loggingIn: 0, online: 0, offline: 0, disabled: 0, failed: 0 });
      expect(idle.gateway.handle({ topic: `/sys/a1Meter0001/meter-01/thing/service/property/set`, payload: Buffer.from('{}'), qos: 1 })).toBeUndefined();
    } finally {
      await Promise.all([idle.stop(), real.stop()]);
    }
  });
});
