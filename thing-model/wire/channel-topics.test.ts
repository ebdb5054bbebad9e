import { channelTopics, eventIdOf, parseChannelTopic, parseTopic } from './index';

describe('channel topics', () => {
  const t = channelTopics({ productKey: 'a1B', deviceName: 'dev-1' });

  it('builds the raw, config, tag and log topics of one device', () => {
    expect(t.downRaw).toBe('/sys/a1B/dev-1/thing/model/down_raw');
    expect(t.upRawReply).toBe('/sys/a1B/dev-1/thing/model/up_raw_reply');
    expect(t.configPush).toBe('/sys/a1B/dev-1/thing/config/push');
    expect(t.tagsDeleteReply).toBe('/sys/a1B/dev-1/thing/deviceinfo/delete_reply');
    expect(t.logConfigGet).toBe('/sys/a1B/dev-1/thing/config/log/get');
    expect(t.logPost).toBe('/sys/a1B/dev-1/thing/log/post');
  });

  it('parses each of them back, and nothing else', () => {
    for (const [name, topic] of Object.entries(t)) expect(parseChannelTopic(topic)).toEqual({ name, productKey: 'a1B', deviceName: 'dev-1' });
    expect(parseChannelTopic('/sys/a1B/dev-1/thing/event/property/post')).toBeUndefined();
    expect(parseChannelTopic('/ext/rrpc/1/sys/a1B/dev-1/thing/model/down_raw')).toBeUndefined();
    expect(parseChannelTopic('/sys//dev-1/thing/model/up_raw')).toBeUndefined();
    // The older parser leaves them as 'other', so the two never disagree.
    expect(parseTopic(t.upRaw)).toEqual({ kind: 'other' });
  });

  it('reads the event id of an event-post method', () => {
    expect(eventIdOf('thing.event.HighTemperature.post')).toBe('HighTemperature');
    expect(eventIdOf('thing.event.property.post')).toBeUndefined();
    expect(eventIdOf('thing.service.Reboot')).toBeUndefined();
  });
});
