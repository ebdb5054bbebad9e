/**
 * Check 7, on the connection of check 6: one NTP exchange over `/ext/ntp` (docs/protocol/ntp.md) says how far the
 * system clock is from the platform's. Far off is a warning, not a failure: the agent corrects its clock itself
 * once connected, but TLS certificate checks before connecting and other programs on the gateway cannot.
 */
import type { MqttClient } from 'mqtt';
import { stateTopics, type DeviceIdentity } from '../../thing-model/wire';
import { ok, warn, type Finding } from './report';

export async function checkClock(client: MqttClient, id: DeviceIdentity, farOffMs: number, timeoutMs: number): Promise<Finding> {
  const t = stateTopics(id);
  try {
    await client.subscribeAsync(t.ntpResponse, { qos: 0 });
  } catch (err) {
    return warn('clock', `could not ask the platform for the time: ${(err as Error).message}`);
  }
  const sent = Date.now();
  const answer = new Promise<Buffer | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), timeoutMs);
    client.on('message', (topic, payload) => {
      if (topic !== t.ntpResponse) return;
      clearTimeout(timer);
      resolve(payload);
    });
  });
  client.publish(t.ntpRequest, JSON.stringify({ deviceSendTime: String(sent) }), { qos: 0 });
  const payload = await answer;
  const received = Date.now();
  if (!payload) return warn('clock', `no NTP answer within ${timeoutMs} ms`);
  let m: { serverRecvTime?: unknown; serverSendTime?: unknown };
  try {
    m = JSON.parse(payload.toString('utf8')) as typeof m;
  } catch {
    return warn('clock', 'the NTP answer is not JSON');
  }
  const offset = Math.round((Number(m.serverRecvTime) + Number(m.serverSendTime) + received - sent) / 2 - received);
  if (!Number.isFinite(offset)) return warn('clock', 'the NTP answer has no server times');
  const text = `system clock ${offset >= 0 ? 'behind' : 'ahead of'} the platform by ${Math.abs(offset)} ms`;
  return Math.abs(offset) > farOffMs ? warn('clock', `${text}: far off (more than clock.farOffMs ${farOffMs}); the agent corrects it after connecting`) : ok('clock', text);
}
