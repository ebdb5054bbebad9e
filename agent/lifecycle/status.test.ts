import { displayUrl, formatStatus } from './status';

describe('formatStatus', () => {
  const url = 'mqtts://a1b2c3.iot-as-mqtt.cn-shanghai.aliyuncs.com:1883';

  it('reads as one line a person understands', () => {
    expect(formatStatus({ state: 'connected', brokerUrl: url, outboxPending: 12 })).toBe(`connected to ${url}, outbox 12 pending, last error: none`);
    expect(formatStatus({ state: 'reconnecting', brokerUrl: url, outboxPending: 40, retryInMs: 7200, lastError: 'connect ECONNREFUSED 10.0.0.1:1883' })).toBe(
      `reconnecting to ${url} (next attempt in 8 s), outbox 40 pending, last error: connect ECONNREFUSED 10.0.0.1:1883`,
    );
    expect(formatStatus({ state: 'connecting', brokerUrl: url })).toBe(`connecting to ${url}, last error: none`);
    expect(formatStatus({ state: 'idle', brokerUrl: url })).toBe('starting, last error: none');
    expect(formatStatus({ state: 'stopped', brokerUrl: url, lastError: 'a\nb' })).toBe('stopped, last error: a b');
  });

  it('never shows credentials from the broker URL', () => {
    expect(displayUrl('mqtt://user:s3cret@127.0.0.1:1883')).toBe('mqtt://127.0.0.1:1883');
    expect(displayUrl('not a url://u:p@h')).toBe('not a url://h');
    expect(formatStatus({ state: 'connected', brokerUrl: 'mqtts://dev%26pk:sign@host:8883' })).toBe('connected to mqtts://host:8883, last error: none');
  });
});
