import { deviceTopics, extRrpcFilter, extRrpcTopic, parseTopic } from './topics';
import { MessageIdGenerator, isAlinkId } from './message';

const id = { productKey: 'a1GwDemo01', deviceName: 'gw-001' };
const t = deviceTopics(id);

describe('topics', () => {
  it('builds the system topics of one device', () => {
    expect(t.propertySet).toBe('/sys/a1GwDemo01/gw-001/thing/service/property/set');
    expect(t.serviceReply('Reboot')).toBe('/sys/a1GwDemo01/gw-001/thing/service/Reboot_reply');
    expect(t.rrpcResponse('1457411227438011904')).toBe('/sys/a1GwDemo01/gw-001/rrpc/response/1457411227438011904');
    expect(extRrpcTopic('42', '/a1GwDemo01/gw-001/user/get')).toBe('/ext/rrpc/42/a1GwDemo01/gw-001/user/get');
    expect(extRrpcFilter('/a1GwDemo01/gw-001/user/get')).toBe('/ext/rrpc/+/a1GwDemo01/gw-001/user/get');
  });

  it('classifies every downstream and upstream kind', () => {
    expect(parseTopic(t.propertySet)).toEqual({ kind: 'propertySet', ...id });
    expect(parseTopic(t.propertySetReply)).toEqual({ kind: 'propertySetReply', ...id });
    expect(parseTopic(t.propertyPost)).toEqual({ kind: 'propertyPost', ...id });
    expect(parseTopic(t.propertyPostReply)).toEqual({ kind: 'propertyPostReply', ...id });
    expect(parseTopic(t.propertyBatchPost)).toEqual({ kind: 'propertyBatchPost', ...id });
    expect(parseTopic(t.propertyBatchPostReply)).toEqual({ kind: 'propertyBatchPostReply', ...id });
    expect(t.propertyBatchPost).toBe('/sys/a1GwDemo01/gw-001/thing/event/property/batch/post');
    expect(parseTopic(t.eventPost('HighTemperature'))).toEqual({ kind: 'eventPost', ...id, eventId: 'HighTemperature' });
    expect(parseTopic(t.eventPostReply('SensorFault'))).toEqual({ kind: 'eventPostReply', ...id, eventId: 'SensorFault' });
    expect(parseTopic(t.service('Reboot'))).toEqual({ kind: 'service', ...id, serviceId: 'Reboot' });
    expect(parseTopic(t.serviceReply('Reboot'))).toEqual({ kind: 'serviceReply', ...id, serviceId: 'Reboot' });
    expect(parseTopic(t.rrpcRequest('99'))).toEqual({ kind: 'rrpcRequest', ...id, messageId: '99' });
    expect(parseTopic(t.rrpcResponse('99'))).toEqual({ kind: 'rrpcResponse', ...id, messageId: '99' });
    expect(parseTopic('/ext/rrpc/7/sys/a1GwDemo01/gw-001/thing/service/Calibrate')).toEqual({
      kind: 'extRrpc',
      messageId: '7',
      customTopic: '/sys/a1GwDemo01/gw-001/thing/service/Calibrate',
    });
    expect(parseTopic('/a1GwDemo01/gw-001/user/cmd/led')).toEqual({ kind: 'user', ...id, suffix: 'cmd/led' });
    expect(parseTopic('no/leading/slash')).toEqual({ kind: 'other' });
    expect(parseTopic('/sys/a1GwDemo01/gw-001/thing/unknown/x')).toEqual({ kind: 'other' });
  });
});

describe('message ids', () => {
  it('are decimal strings in range, unique, and wrap at 2^32-1', () => {
    const g = new MessageIdGenerator(4294967294);
    expect([g.nextId(), g.nextId(), g.nextId()]).toEqual(['4294967294', '4294967295', '0']);
    expect(isAlinkId('4294967295')).toBe(true);
    expect(isAlinkId('4294967296')).toBe(false);
    expect(isAlinkId('1|exp-topic|/sys/x')).toBe(false);
    expect(isAlinkId(12)).toBe(false);
  });
});
