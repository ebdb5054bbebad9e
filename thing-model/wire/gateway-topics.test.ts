import { gatewayTopics, lifecycleTopics, otaTopics, parseTopic } from './index';

describe('gateway, lifecycle and OTA topics', () => {
  const gw = { productKey: 'a1Gw', deviceName: 'gw-1' };
  const sub = { productKey: 'a1SubDemo01', deviceName: 'sensor-01' };

  it('puts topology on the gateway /sys/ prefix and sessions under /ext/session/', () => {
    const t = gatewayTopics(gw);
    expect(t.topoAdd).toBe('/sys/a1Gw/gw-1/thing/topo/add');
    expect(t.topoGetReply).toBe('/sys/a1Gw/gw-1/thing/topo/get_reply');
    expect(t.batchLogin).toBe('/ext/session/a1Gw/gw-1/combine/batch_login');
    expect(t.loginReply).toBe('/ext/session/a1Gw/gw-1/combine/login_reply');
    expect(t.packPost).toBe('/sys/a1Gw/gw-1/thing/event/property/pack/post');
    // Every request topic is answered on X_reply.
    for (const [k, v] of Object.entries(t)) if (k.endsWith('Reply')) expect(v).toBe(t[k.slice(0, -5) as keyof typeof t] + '_reply');
  });

  it('gives each device its error and lifecycle topics', () => {
    const l = lifecycleTopics(sub);
    expect(l.extError).toBe('/ext/error/a1SubDemo01/sensor-01');
    expect(l.disable).toBe('/sys/a1SubDemo01/sensor-01/thing/disable');
    expect(parseTopic(l.extError)).toEqual({ kind: 'other' });
  });

  it('builds the OTA topics of a sub-device on its own identity', () => {
    const o = otaTopics(sub);
    expect(o.upgrade).toBe('/ota/device/upgrade/a1SubDemo01/sensor-01');
    expect(o.firmwareGetReply).toBe('/sys/a1SubDemo01/sensor-01/thing/ota/firmware/get_reply');
    expect(o.fileDownload).toBe('/sys/a1SubDemo01/sensor-01/thing/file/download');
  });
});
