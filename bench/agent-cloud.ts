/** The "cloud" of bench:agent: one raw MQTT.js client that sends property sets and RRPC calls and answers posts. */
import mqtt, { type MqttClient } from 'mqtt';
import { PK, sys } from './agent-devices';

/** What one socket read of `c` causes (requests, PUBACKs, replies) leaves in one write, not one syscall each. */
export function corkPerRead(c: MqttClient): void {
  const socket = c.stream as unknown as { cork?(): void; uncork?(): void; prependListener?(e: string, f: () => void): void };
  let corked = false;
  socket.prependListener?.('data', () => {
    if (corked || !socket.cork || !socket.uncork) return;
    corked = true;
    socket.cork();
    setImmediate(() => {
      corked = false;
      socket.uncork?.();
    });
  });
}

export class Cloud {
  private next = 1;
  private readonly waiting = new Map<string, (code: number) => void>();
  /** Property posts received per device name (the agent's post-after-set). */
  readonly posts = new Map<string, number>();

  private constructor(private readonly c: MqttClient) {
    const postSuffix = '/thing/event/property/post';
    // The cloud must not be what limits the rate: the requests, PUBACKs and post_replies that one socket read
    // causes leave in one write (as the agent's session does it), not one syscall each. The same for every device.
    corkPerRead(c);
    c.on('message', (topic, payload) => {
      const msg = JSON.parse(payload.toString()) as { id: string; code?: number };
      if (topic.endsWith(postSuffix)) {
        const dn = topic.split('/')[3] ?? '';
        this.posts.set(dn, (this.posts.get(dn) ?? 0) + 1);
        // The platform answers property posts; the agent posts the values of the sets it answered.
        c.publish(`${topic}_reply`, JSON.stringify({ id: msg.id, code: 200, data: {}, message: 'success', method: 'thing.event.property.post', version: '1.0' }), { qos: 0 });
        return;
      }
      const key = topic.includes('/rrpc/response/') ? topic.slice(topic.lastIndexOf('/') + 1) : msg.id;
      const done = this.waiting.get(key);
      if (done) {
        this.waiting.delete(key);
        done(msg.code ?? -1);
      }
    });
  }

  static async connect(url: string): Promise<Cloud> {
    const c = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: 'bench-cloud', reconnectPeriod: 0 });
    (c.stream as unknown as { setNoDelay?(b: boolean): void }).setNoDelay?.(true);
    await c.subscribeAsync({
      [`/sys/${PK}/+/thing/service/property/set_reply`]: { qos: 1 },
      [`/sys/${PK}/+/rrpc/response/+`]: { qos: 0 },
      [`/sys/${PK}/+/thing/event/property/post`]: { qos: 0 },
    });
    return new Cloud(c);
  }

  /** One property set; resolves with the reply code. */
  set(dn: string): Promise<number> {
    const id = String(this.next++);
    const p = new Promise<number>((r) => this.waiting.set(id, r));
    this.c.publish(`${sys(dn)}/thing/service/property/set`, `{"id":"${id}","version":"1.0","params":{"ReportInterval":${5 * ((this.next % 700) + 1)},"WorkMode":${this.next % 3}},"method":"thing.service.property.set"}`, { qos: 1 });
    return p;
  }

  /** One sync service call over RRPC; resolves with the reply code. */
  rrpc(dn: string): Promise<number> {
    const id = String(this.next++);
    const p = new Promise<number>((r) => this.waiting.set(id, r));
    this.c.publish(`${sys(dn)}/rrpc/request/${id}`, `{"id":"${id}","version":"1.0","params":{"Sensor":1,"ReferenceValue":25.5,"SettleSeconds":0},"method":"thing.service.Calibrate"}`, { qos: 0 });
    return p;
  }

  forget(): void {
    this.waiting.clear();
  }

  end(): Promise<void> {
    return this.c.endAsync();
  }
}
