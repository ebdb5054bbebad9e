/**
 * Remote configuration end to end on both brokers (docs/protocol/remote-config.md): the simulator's own API sets a
 * product's configuration file (the platform has this in its console only), the agent asks for it after connecting
 * and takes pushes, downloads it from the signed URL, checks its SHA-256 and hands it to the plugin claiming
 * `config`; a file whose digest does not match, one too large, or one the plugin refuses is answered with its code
 * and never applied.
 */
import { definePlugin, type ConfigFile } from '../handlers/api';
import { AlinkCodes } from '../thing-model';
import { waitFor } from './helpers/brokers';
import { MODES, startChannelAgent, startChannelSim, type ChannelAgent, type ChannelSim } from './channels-support';
import { DEVICE as TEST_DEVICE } from './agent-support';

const DEVICE = { productKey: TEST_DEVICE.productKey, deviceName: 'gw-001' };

describe.each(MODES)('remote configuration on the %s broker', (mode) => {
  let s: ChannelSim;
  let device: ChannelAgent;
  const applied: { content: string; source: ConfigFile['source']; configId: string }[] = [];

  const configPlugin = definePlugin({
    name: 'config-taker',
    setup: () => ({
      config: {
        apply: (file) => {
          const content = file.content.toString('utf8');
          if (content.includes('refuse')) throw new Error('setting "refuse" is not supported');
          applied.push({ content, source: file.source, configId: file.configId });
        },
      },
    }),
  });

  beforeAll(async () => {
    s = await startChannelSim(mode);
    await s.sim.setProductConfig(DEVICE.productKey, '{"mode":"eco","interval":60}');
    device = await startChannelAgent(s, DEVICE, [{ module: 'config-taker', plugin: configPlugin }], { remoteConfig: { maxBytes: 256 } });
  });

  afterAll(async () => {
    await device?.cleanup();
    await s?.sim.stop();
  });

  async function push(content: string, sign?: string) {
    const { pushed } = await s.sim.setProductConfig(DEVICE.productKey, content, { push: true, ...(sign ? { sign } : {}) });
    const id = pushed.get(DEVICE.deviceName);
    expect(id).toBeDefined();
    return s.sim.waitForDeviceReply(DEVICE, (r) => r.kind === 'configPushReply' && r.id === id, 8000);
  }

  it('fetches the product configuration after connecting and hands it to the plugin', async () => {
    await waitFor(() => applied.length > 0, 8000, 'the configuration from thing.config.get');
    expect(applied[0]).toMatchObject({ content: '{"mode":"eco","interval":60}', source: 'get' });
  });

  it('applies a pushed configuration and answers 200', async () => {
    const reply = await push('{"mode":"boost"}');
    expect(reply.code).toBe(AlinkCodes.SUCCESS);
    expect(applied[applied.length - 1]).toMatchObject({ content: '{"mode":"boost"}', source: 'push' });
  });

  it('refuses a file whose SHA-256 does not match the announced digest, and applies nothing', async () => {
    const before = applied.length;
    const reply = await push('{"mode":"tampered"}', 'ab'.repeat(32));
    expect(reply.code).toBe(AlinkCodes.PARAM_ERROR);
    expect(reply.message).toMatch(/^sign: expected the SHA-256 of the file, [0-9a-f]{64}, received abab/);
    expect(applied.length).toBe(before);
    expect(device.log.lines().some((l) => l.code === 'REMOTE_CONFIG_DIGEST_MISMATCH')).toBe(true);
  });

  it('refuses a file larger than remoteConfig.maxBytes, and one the plugin refuses', async () => {
    const big = await push(JSON.stringify({ pad: 'x'.repeat(400) }));
    expect(big.code).toBe(AlinkCodes.PARAM_ERROR);
    expect(big.message).toContain('remoteConfig.maxBytes');
    const refused = await push('{"refuse":true}');
    expect(refused.code).toBe(AlinkCodes.REQUEST_ERROR);
    expect(refused.message).toContain('setting "refuse" is not supported');
    expect(device.agent.state).toBe('connected');
  });

  it('never logs the signed URL, only its host and path', () => {
    expect(device.log.text()).not.toMatch(/Signature=[0-9a-f]{16}/);
  });
});
