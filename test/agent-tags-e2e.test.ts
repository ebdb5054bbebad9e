/**
 * Device tags end to end on both brokers (docs/protocol/tags.md): static tags from the agent's configuration are
 * posted after connecting, a plugin adds and removes tags through `ctx.upstream`, and the official cloud SDK reads
 * and changes the same tags with QueryDeviceProp, SaveDeviceProp and DeleteDeviceProp.
 */
import * as $Iot from '@alicloud/iot20180120';
import { definePlugin, ValidationError, type Upstream } from '../handlers/api';
import { AlinkCodes } from '../thing-model';
import { waitFor } from './helpers/brokers';
import { DEVICE as TEST_DEVICE } from './agent-support';
import { MODES, startChannelAgent, startChannelSim, type ChannelAgent, type ChannelSim } from './channels-support';

const DEVICE = { productKey: TEST_DEVICE.productKey, deviceName: 'gw-001' };

describe.each(MODES)('device tags on the %s broker', (mode) => {
  let s: ChannelSim;
  let device: ChannelAgent;
  let upstream: Upstream | undefined;

  const tagPlugin = definePlugin({
    name: 'tagger',
    setup: (ctx) => ({
      start: () => {
        upstream = ctx.upstream;
      },
    }),
  });

  beforeAll(async () => {
    s = await startChannelSim(mode);
    device = await startChannelAgent(s, DEVICE, [{ module: 'tagger', plugin: tagPlugin }], { tags: { site: 'hall-3', firmware: '1.4.2' } });
  });

  afterAll(async () => {
    await device?.cleanup();
    await s?.sim.stop();
  });

  async function cloudTags(): Promise<Record<string, string>> {
    const res = await s.iot.queryDeviceProp(new $Iot.QueryDevicePropRequest(DEVICE));
    expect(res.body.success).toBe(true);
    return JSON.parse(res.body.props ?? '{}') as Record<string, string>;
  }

  it('posts the static tags of the configuration after connecting', async () => {
    await waitFor(async () => (await cloudTags()).site === 'hall-3', 8000, 'the static tags');
    expect(await cloudTags()).toEqual({ site: 'hall-3', firmware: '1.4.2' });
  });

  it('adds and removes tags from a plugin, each answered by the platform', async () => {
    const added = await upstream!.updateTags({ zone: 'A-12', 'rack.position': '3' });
    expect(added.code).toBe(AlinkCodes.SUCCESS);
    expect(await cloudTags()).toMatchObject({ zone: 'A-12', 'rack.position': '3', site: 'hall-3' });
    await upstream!.deleteTags(['zone']);
    expect(await cloudTags()).not.toHaveProperty('zone');
  });

  it('refuses a bad tag with 460 naming it, before anything is sent', async () => {
    const err = await upstream!.updateTags({ '9lives': 'x', ok: 'y'.repeat(129) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).code).toBe(AlinkCodes.PARAM_ERROR);
    expect((err as ValidationError).message).toMatch(/tags\.9lives: expected a tag key/);
    expect((err as ValidationError).message).toMatch(/tags\.ok: expected a non-empty string of at most 128 characters/);
  });

  it('shares the tags with SaveDeviceProp and DeleteDeviceProp of the cloud SDK', async () => {
    const saved = await s.iot.saveDeviceProp(new $Iot.SaveDevicePropRequest({ ...DEVICE, props: JSON.stringify({ owner: 'ops-team' }) }));
    expect(saved.body.success).toBe(true);
    expect(await cloudTags()).toMatchObject({ owner: 'ops-team', site: 'hall-3' });
    await s.iot.deleteDeviceProp(new $Iot.DeleteDevicePropRequest({ ...DEVICE, propKey: 'site' }));
    expect(await cloudTags()).not.toHaveProperty('site');
    const bad = await s.iot.saveDeviceProp(new $Iot.SaveDevicePropRequest({ ...DEVICE, props: JSON.stringify({ abc: 'reserved' }) })).catch((e: { code?: string }) => e);
    expect(bad).toMatchObject({ code: 'InvalidParameter' });
  });
});
