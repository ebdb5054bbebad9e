/**
 * What the agent sends on the `/ota/device/...` topics (docs/protocol/ota.md): version informs and progress. These
 * are not full Alink requests (no `method`, no `version` field). Both go at QoS 1 through the outbox: a failure
 * report must reach the platform after a reconnect, or the task stays "in progress" until its timeout.
 */
import type { Logger } from 'pino';
import { otaTopics, type DeviceIdentity, type MessageIdGenerator } from '../../thing-model/wire';
import type { Uplink } from '../transport';
import { describe } from './errors';

export class OtaMessages {
  readonly topics: ReturnType<typeof otaTopics>;

  constructor(
    device: DeviceIdentity,
    private readonly uplink: Uplink,
    private readonly ids: MessageIdGenerator,
    private readonly logger: Logger,
  ) {
    this.topics = otaTopics(device);
  }

  inform(module: string, version: string): Promise<void> {
    return this.send(this.topics.inform, { version, module }, 'inform');
  }

  /** `step` 1..100, or a negative failure step; the platform reads it as a string. */
  progress(module: string, step: number, desc: string): Promise<void> {
    return this.send(this.topics.progress, { step: String(step), desc: desc.slice(0, 128), module }, 'progress');
  }

  private async send(topic: string, params: Record<string, string>, what: string): Promise<void> {
    try {
      await this.uplink.publish(topic, JSON.stringify({ id: this.ids.nextId(), params }), { qos: 1, messageClass: 'ota' });
    } catch (err) {
      this.logger.warn({ err: describe(err), module: params.module }, `ota ${what} not sent`);
    }
  }
}

/** Sends download progress every `stepPercent` and always at the end; never backwards. */
export class ProgressThrottle {
  /** Nothing sent yet: the first report (step 1, "download started") always goes. */
  private last = -Infinity;

  constructor(private readonly stepPercent: number) {}

  /** True when `percent` is worth a message. */
  due(percent: number): boolean {
    const p = Math.floor(percent);
    if (p <= this.last || p < 1) return false;
    if (p < 100 && p - this.last < this.stepPercent) return false;
    this.last = p;
    return true;
  }
}
