import pino from 'pino';
import { resolve } from 'node:path';
import { compileThingModel, loadThingModelFile } from '../../thing-model';
import { agedPostPolicy, type AgedPostPolicy } from './history';

const model = compileThingModel(loadThingModelFile(resolve(__dirname, '..', '..', 'simulator', 'tsl', 'example-gateway.json')));
const identity = { productKey: 'a1GwDemo01', deviceName: 'gw-001' };
const SYS = '/sys/a1GwDemo01/gw-001';
const policy = (p: AgedPostPolicy = 'history') =>
  agedPostPolicy({ model, identity, afterMs: 1000, policy: p, toPlatformTime: (ms) => ms + 5, logger: pino({ level: 'silent' }) });

const row = (topic: string, payload: string) => ({ topic, payload: Buffer.from(payload), createdAt: 1_000_000 });

describe('agedPostPolicy', () => {
  it('turns a property post into a history post with each value timed, integral floats kept as floats', () => {
    const out = policy().rewrite(
      row(`${SYS}/thing/event/property/post`, '{"id":"7","version":"1.0","sys":{"ack":1},"params":{"Temperature":21.0,"PM25":{"value":3,"time":999}},"method":"thing.event.property.post"}'),
    );
    expect(out?.topic).toBe(`${SYS}/thing/event/property/history/post`);
    expect(out?.payload.toString()).toBe(
      '{"id":"7","version":"1.0","sys":{"ack":1},"params":[{"identity":{"productKey":"a1GwDemo01","deviceName":"gw-001"},' +
        '"properties":[{"Temperature":{"value":21.0,"time":1000005}},{"PM25":{"value":3,"time":999}}],"events":[]}],' +
        '"method":"thing.event.property.history.post"}',
    );
  });

  it('turns an event post (documented or bare form) into one history event', () => {
    const documented = policy().rewrite(
      row(`${SYS}/thing/event/HighTemperature/post`, '{"id":"8","version":"1.0","params":{"value":{"Temperature":80.0,"Threshold":70.5,"SensorId":"s"},"time":42},"method":"thing.event.HighTemperature.post"}'),
    );
    expect(JSON.parse(documented!.payload.toString()).params[0].events).toEqual([{ HighTemperature: { value: { Temperature: 80, Threshold: 70.5, SensorId: 's' }, time: 42 } }]);
    expect(documented!.payload.toString()).toContain('"Temperature":80.0');
    const bare = policy().rewrite(row(`${SYS}/thing/event/BootCompleted/post`, '{"id":"9","params":{"Reason":1,"FirmwareVersion":"1"},"method":"thing.event.BootCompleted.post"}'));
    expect(JSON.parse(bare!.payload.toString()).params[0].events).toEqual([{ BootCompleted: { value: { Reason: 1, FirmwareVersion: '1' }, time: 1_000_005 } }]);
  });

  it('leaves batch posts, other topics and unreadable payloads as they are', () => {
    const p = policy('drop');
    for (const r of [
      row(`${SYS}/thing/event/property/batch/post`, '{"id":"1","params":{},"method":"thing.event.property.batch.post"}'),
      row('/a1GwDemo01/gw-001/user/up', 'x'),
      row(`${SYS}/thing/event/property/post`, '{not json'),
      row(`${SYS}/thing/event/property/post`, '{"id":1,"method":"thing.event.property.post"}'),
    ]) {
      expect(p.rewrite(r)).toEqual({ topic: r.topic, payload: r.payload });
    }
  });

  it('drops property and event posts under the drop policy', () => {
    expect(policy('drop').rewrite(row(`${SYS}/thing/event/property/post`, '{"id":"7","params":{"PM25":1},"method":"thing.event.property.post"}'))).toBeUndefined();
    expect(policy('drop').classes).toEqual(['property', 'event']);
  });
});
