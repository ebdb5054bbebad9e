/**
 * The "cloud" of bench:gateway's property-set part: one raw MQTT.js client, a service client of the simulator's
 * embedded broker (it may publish anywhere), that sends `thing.service.property.set` on a device's own topics and
 * matches the `set_reply` by id. The same client sets the gateway's own properties and its sub-devices': the agent
 * receives both on its one connection.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { DeviceIdentity } from '../thing-model/wire';
import { corkPerRead } from './agent-cloud';

export const CLOUD_CLIENT = { username: 'bench-gateway-cloud', password: 'bench-gateway-cloud-secret' };

export class SetCloud {
  private next = 1;
  private readonly waiting = new Map<string, (code: number) => void>();

  private constructor(private readonly c: MqttClient) {
    // The cloud must not be what limits the rate: what one socket read causes leaves in one write (bench/agent-cloud.ts).
    corkPerRead(c);
    c.on('message', (_topic, payload) => {
      const msg = JSON.parse(payload.toString()) as { id: string; code?: number };
      const done = this.waiting.get(msg.id);
      if (done) {
        this.waiting.delete(msg.id);
        done(msg.code ?? -1);
      }
    });
  }

  static async connect(url: string): Promise<SetCloud> {
    const c = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: 'bench-gateway-cloud', ...CLOUD_CLIENT, reconnectPeriod: 0 });
    (c.stream as unknown as { setNoDelay?(b: boolean): void }).setNoDelay?.(true);
    await c.subscribeAsync({ '/sys/+/+/thing/service/property/set_reply': { qos: 1 } });
    return new SetCloud(c);
  }

  /** One property set of `params` on `device`; resolves with the reply code. */
  set(device: DeviceIdentity, params: Record<string, unknown>): Promise<number> {
    const id = String(this.next++);
    const p = new Promise<number>((r) => this.waiting.set(id, r));
    const body = JSON.stringify({ id, version: '1.0', params, method: 'thing.service.property.set' });
    this.c.publish(`/sys/${device.productKey}/${device.deviceName}/thing/service/property/set`, body, { qos: 1 });
    return p;
  }

  end(): Promise<void> {
    return this.c.endAsync();
  }
}
