/** Which device an inbound topic is for, and where its refusal is answered. */
import { topicOwner } from './topic-owner';

const d = { productKey: 'a1Sub', deviceName: 'm-01' };

describe('topicOwner', () => {
  it.each([
    ['/sys/a1Sub/m-01/thing/service/property/set', { device: d, replyTopic: '/sys/a1Sub/m-01/thing/service/property/set_reply', replyQos: 1 }],
    ['/sys/a1Sub/m-01/thing/service/Reset', { device: d, replyTopic: '/sys/a1Sub/m-01/thing/service/Reset_reply', replyQos: 1 }],
    ['/sys/a1Sub/m-01/rrpc/request/123', { device: d, replyTopic: '/sys/a1Sub/m-01/rrpc/response/123', replyQos: 0 }],
    ['/ext/rrpc/9/sys/a1Sub/m-01/thing/service/ReadMeter', { device: d, replyTopic: '/ext/rrpc/9/sys/a1Sub/m-01/thing/service/ReadMeter', replyQos: 0 }],
    ['/ext/rrpc/9/a1Sub/m-01/user/get', { device: d, replyTopic: '/ext/rrpc/9/a1Sub/m-01/user/get', replyQos: 0 }],
    ['/a1Sub/m-01/user/cmd/1', { device: d, replyQos: 1 }],
    ['/sys/a1Sub/m-01/thing/event/property/post_reply', { device: d, replyQos: 1 }],
    ['/ext/error/a1Sub/m-01', { device: d, replyQos: 0, extError: true }],
    ['/ota/device/upgrade/a1Sub/m-01', { device: d, replyQos: 1 }],
    ['/ota/device/inform/a1Sub/m-01', { device: d, replyQos: 1 }],
    ['/ota/device/progress/a1Sub/m-01', { device: d, replyQos: 1 }],
    ['/sys/a1Sub/m-01/thing/ota/firmware/get_reply', { device: d, replyQos: 1 }],
    ['/sys/a1Sub/m-01/thing/file/download_reply', { device: d, replyQos: 1 }],
  ])('%s', (topic, expected) => {
    expect(topicOwner(topic)).toEqual(expected);
  });

  it.each(['', 'sys/a1Sub/m-01/x', '/sys/a1Sub', '/ext/rrpc/9', '/ext/error/a1Sub/m-01/more', '/a1Sub/m-01/other', '/ext/rrpc/9/ext/error/a1Sub/m-01', '/ota/device/upgrade/a1Sub', '/ota/device/upgrade/a1Sub/m-01/more', '/ota/device/upgrade'])('%s belongs to no device', (topic) => {
    expect(topicOwner(topic)).toBeUndefined();
  });
});
