/**
 * Log upload end to end on both brokers (docs/protocol/log-upload.md): off by default; the simulator's switch (the
 * console's, here our own API) turns it on by push; the agent then posts its warnings and errors and its plugins'
 * lines at logUpload.level with thing.log.post, within maxPerMinute and maxLineBytes, secrets censored; switched
 * off, nothing more goes up. A device that connects while the switch is on learns it from thing.config.log.get.
 */
import { definePlugin, type PluginContext } from '../handlers/api';
import { waitFor } from './helpers/brokers';
import { DEVICE as TEST_DEVICE, sleep } from './agent-support';
import { MODES, startChannelAgent, startChannelSim, type ChannelAgent, type ChannelSim } from './channels-support';

const DEVICE = { productKey: TEST_DEVICE.productKey, deviceName: 'gw-001' };
const SECOND = { productKey: TEST_DEVICE.productKey, deviceName: 'gw-002' };

describe.each(MODES)('log upload on the %s broker', (mode) => {
  let s: ChannelSim;
  let device: ChannelAgent;
  let ctx: PluginContext | undefined;

  const noisy = definePlugin({
    name: 'noisy',
    setup: (c) => {
      ctx = c as unknown as PluginContext;
      return {};
    },
  });

  beforeAll(async () => {
    s = await startChannelSim(mode);
    device = await startChannelAgent(s, DEVICE, [{ module: 'noisy', plugin: noisy }], { logUpload: { level: 'info', maxPerMinute: 5, maxLineBytes: 64, batchMs: 50 } });
  });

  afterAll(async () => {
    await device?.cleanup();
    await s?.sim.stop();
  });

  const logs = () => s.sim.deviceLogs(DEVICE.productKey, DEVICE.deviceName);

  it('uploads nothing while the switch is off', async () => {
    ctx!.logger.warn('before the switch');
    await sleep(300);
    expect(logs()).toEqual([]);
  });

  it('uploads plugin lines at the configured level once switched on, censoring secrets and cutting long lines', async () => {
    expect(await s.sim.setLogUploadMode(DEVICE.productKey, DEVICE.deviceName, 1)).toBe(true);
    await waitFor(() => device.log.lines().some((l) => l.msg === 'log upload switched on'), 8000, 'the push');
    ctx!.logger.debug('too detailed to upload');
    ctx!.logger.info({ password: 'hunter2', secret: TEST_DEVICE.secret }, 'calibration started');
    ctx!.logger.error({ err: new Error('sensor 3 not answering'), code: 'E_SENSOR' }, 'read failed');
    ctx!.logger.warn('x'.repeat(200));
    await waitFor(() => logs().length >= 3, 8000, 'three uploaded lines');
    const got = logs();
    expect(got.map((l) => l.logLevel)).toEqual(['INFO', 'ERROR', 'WARN']);
    expect(got[0]).toMatchObject({ module: 'noisy', logContent: 'calibration started' });
    expect(got[1]).toMatchObject({ module: 'noisy', code: 'E_SENSOR', logContent: 'read failed: sensor 3 not answering' });
    expect(Buffer.byteLength(got[2]!.logContent)).toBe(64);
    expect(new Date(got[0]!.utcTime).toISOString()).toBe(got[0]!.utcTime);
    expect(JSON.stringify(got)).not.toContain('hunter2');
    expect(JSON.stringify(got)).not.toContain(TEST_DEVICE.secret);
  });

  it('bounds the rate: past maxPerMinute lines are dropped and counted', async () => {
    for (let i = 0; i < 10; i++) ctx!.logger.warn(`burst ${i}`);
    await sleep(400);
    const bursts = logs().filter((l) => l.logContent.startsWith('burst'));
    // 3 lines already went up in this minute, of 5: at most 2 of the burst fit.
    expect(bursts.length).toBeLessThanOrEqual(2);
    ctx!.logger.warn('one more');
    await waitFor(() => logs().some((l) => /log lines not uploaded/.test(l.logContent)), 8000, 'the drop count');
  });

  it('stops uploading when switched off', async () => {
    await s.sim.setLogUploadMode(DEVICE.productKey, DEVICE.deviceName, 0);
    await waitFor(() => device.log.lines().some((l) => l.msg === 'log upload switched off'), 8000, 'the push');
    const before = logs().length;
    ctx!.logger.error('after the switch');
    await sleep(300);
    expect(logs().length).toBe(before);
  });

  it('learns the switch with thing.config.log.get when it connects, and uploads its own warnings', async () => {
    await s.sim.setLogUploadMode(SECOND.productKey, SECOND.deviceName, 1);
    const second = await startChannelAgent(s, SECOND, [], { logUpload: { batchMs: 50 } });
    try {
      await waitFor(() => second.log.lines().some((l) => l.msg === 'log upload switched on'), 8000, 'the get');
      second.agent.logger.child({ component: 'session' }).warn('link quality poor');
      await waitFor(() => s.sim.deviceLogs(SECOND.productKey, SECOND.deviceName).some((l) => l.logContent === 'link quality poor'), 8000, 'the agent warning');
      expect(s.sim.deviceLogs(SECOND.productKey, SECOND.deviceName).find((l) => l.logContent === 'link quality poor')).toMatchObject({ module: 'session', logLevel: 'WARN' });
    } finally {
      await second.cleanup();
    }
  });
});
