/**
 * SIGHUP's reload in process, through `Agent.create` + `reload()` on real config files: the environment given at
 * start is the one a reload reads (`secretEnv` under an embedding), the restart-only keys come from the schema's
 * `reload` annotations, a changed secret is noticed by its real value but never logged, and the log lines carry
 * each key once.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Agent } from '../agent/agent';
import { reloadRules, restartOnlyChanges } from '../agent/config/reload';
import { validateConfig } from '../agent/config/load';
import { captureLog, DEVICE } from './agent-support';
import { duplicateKeys } from './helpers/json-keys';

const TSL = resolve(__dirname, '..', 'simulator', 'tsl', 'example-gateway.json');
const dir = mkdtempSync(join(tmpdir(), 'agent-reload-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ENV_NAME = 'ALINK_RELOAD_TEST_SECRET';
const config = (over: Record<string, unknown> = {}, device: Record<string, unknown> = { secretEnv: ENV_NAME }) => ({
  device: { productKey: DEVICE.productKey, deviceName: DEVICE.deviceName, ...device },
  broker: { url: 'mqtt://127.0.0.1:1883' },
  thingModel: { path: TSL },
  dataDir: join(dir, 'data'),
  ...over,
});

async function agentOn(file: string, env: NodeJS.ProcessEnv) {
  const log = captureLog();
  const agent = await Agent.create(file, { env, logger: log.logger, stores: () => ({}) });
  return { agent, log };
}

describe('Agent.reload()', () => {
  it('reads secretEnv in the environment given at start, not in process.env', async () => {
    expect(process.env[ENV_NAME]).toBeUndefined();
    const file = join(dir, 'env.json');
    writeFileSync(file, JSON.stringify(config()));
    const env = { [ENV_NAME]: DEVICE.secret };
    const { agent, log } = await agentOn(file, env);
    writeFileSync(file, JSON.stringify(config({ log: { level: 'debug' } })));
    await expect(agent.reload()).resolves.toEqual([]);
    expect(log.find('configuration reloaded')).toEqual([expect.objectContaining({ logLevel: 'debug' })]);
    expect(agent.logger.level).toBe('debug');
  });

  it('names the restart-only keys that changed, a changed secret included, without its value', async () => {
    const file = join(dir, 'secret.json');
    const secretFile = join(dir, 'secret.txt');
    writeFileSync(secretFile, DEVICE.secret);
    writeFileSync(file, JSON.stringify(config({}, { secretFile })));
    const { agent, log } = await agentOn(file, {});
    writeFileSync(secretFile, 'a-new-device-secret-0123456789');
    writeFileSync(file, JSON.stringify(config({ broker: { url: 'mqtt://127.0.0.1:1883', keepalive: 600 }, log: { level: 'warn' } }, { secretFile })));
    const keys = await agent.reload();
    expect(keys).toEqual(['device.secret', 'broker.keepalive']);
    expect(log.find('these settings changed but apply only after a restart')).toEqual([expect.objectContaining({ level: 40, keys })]);
    expect(log.text()).not.toContain('a-new-device-secret');
    expect(log.text()).not.toContain(DEVICE.secret);
  });

  it('writes "configuration reloaded" with pino\'s level once (the configured level is logLevel)', async () => {
    const file = join(dir, 'dup.json');
    writeFileSync(file, JSON.stringify(config()));
    const { agent, log } = await agentOn(file, { [ENV_NAME]: DEVICE.secret });
    await agent.reload();
    const raw = log.text().split('\n').filter((l) => l.includes('configuration reloaded'));
    expect(raw).toHaveLength(1);
    expect(duplicateKeys(raw[0] as string)).toEqual([]);
  });
});

describe('the reload rule comes from the schema', () => {
  it('marks every top-level key live or restart; only log and handlers are live', () => {
    const rules = reloadRules();
    expect(Object.entries(rules).filter(([, r]) => r !== 'live' && r !== 'restart')).toEqual([]);
    expect(Object.keys(rules).filter((k) => rules[k] === 'live').sort()).toEqual(['handlers', 'log']);
  });

  it('compares resolved values along the schema: a secret by value, derived fields not twice, live keys never', () => {
    const a = validateConfig(config({}, { secret: 'one-secret' }), { baseDir: dir });
    const same = validateConfig(config({}, { secretEnv: 'S' }), { baseDir: dir, env: { S: 'one-secret' } });
    const b = validateConfig(
      config({ broker: { url: 'mqtt://10.0.0.1:1884' }, log: { level: 'debug' }, handlers: [{ module: 'system-info' }], outbox: { ttlMs: { reply: 1000 } } }, { secret: 'two-secret' }),
      { baseDir: dir },
    );
    // where the secret comes from does not matter, only what it is
    expect(restartOnlyChanges(a, same)).toEqual([]);
    expect(restartOnlyChanges(a, b)).toEqual(['device.secret', 'broker.url', 'outbox.ttlMs']);
  });
});
