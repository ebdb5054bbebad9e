/**
 * A stop that comes while the agent is still starting (SIGTERM during a slow plugin start, on a real broker):
 * `start()` settles without an error and the agent never connects, where it used to reject with
 * "connect() called in state stopped" once the boot steps ended (the stop had already stopped the session).
 */
import { definePlugin } from '../handlers/api';
import { startAedes, type RunningBroker } from './helpers/brokers';
import { makeAgent } from './agent-e2e-support';

describe('a stop during start', () => {
  let broker: RunningBroker & { aedes(): import('aedes').default };
  beforeAll(async () => (broker = await startAedes()));
  afterAll(() => broker?.stop());

  it('lets start() settle without connecting', async () => {
    let release!: () => void;
    let started!: () => void;
    const inStart = new Promise<void>((r) => (started = r));
    const slow = definePlugin({
      name: 'slow-start',
      setup: () => ({
        start: () => {
          started();
          return new Promise<void>((r) => (release = r));
        },
      }),
    });
    let connects = 0;
    broker.aedes().on('client', () => connects++);
    const t = await makeAgent(broker.url, {}, { plugins: [{ module: 'slow-start', plugin: slow }] });
    try {
      const starting = t.agent.start();
      await inStart;
      const stopping = t.agent.stop();
      release();
      await expect(starting).resolves.toBeUndefined();
      await stopping;
      expect(connects).toBe(0);
      expect(t.log.lines().some((l) => l.msg === 'agent failed to start')).toBe(false);
    } finally {
      await t.cleanup();
    }
  });
});
