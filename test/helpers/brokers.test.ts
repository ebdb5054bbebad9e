import mqtt from 'mqtt';
import { startAedes, startMosquitto } from './brokers';

async function roundTrip(url: string, protocolVersion: 4 | 5): Promise<string> {
  const client = await mqtt.connectAsync(url, { protocolVersion, reconnectPeriod: 0 });
  try {
    const got = new Promise<string>((resolve) => client.on('message', (_t, p) => resolve(p.toString())));
    await client.subscribeAsync('t/echo', { qos: 1 });
    await client.publishAsync('t/echo', 'hello', { qos: 1 });
    return await got;
  } finally {
    await client.endAsync();
  }
}

describe('test brokers', () => {
  it('mosquitto speaks MQTT 5 on a free loopback port', async () => {
    const b = await startMosquitto();
    try {
      expect(b.url).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
      await expect(roundTrip(b.url, 5)).resolves.toBe('hello');
      await b.restart();
      await expect(roundTrip(b.url, 5)).resolves.toBe('hello');
    } finally {
      await b.stop();
    }
  });

  it('aedes speaks MQTT 3.1.1 in-process', async () => {
    const b = await startAedes();
    try {
      await expect(roundTrip(b.url, 4)).resolves.toBe('hello');
    } finally {
      await b.stop();
    }
  });
});
