/**
 * The platform's side of the other device channels, one registration point for simulator/mqtt/upstream.ts:
 * custom-format data (simulator/scripts/raw-channel.ts), remote configuration, tags and log upload
 * (docs/protocol/raw-data.md, remote-config.md, tags.md, log-upload.md).
 */
import type { Logger } from 'pino';
import { parseChannelTopic } from '../../thing-model/wire';
import type { SimulatorEventBus } from '../events';
import type { FileStore } from '../http/files';
import type { Registry } from '../registry';
import { RawChannel, SN_DEFAULT } from '../scripts/raw-channel';
import { ThingScripts, type ScriptStoreOptions } from '../scripts/store';
import type { DeviceStateStore } from '../state/device-state';
import type { DeviceId } from './acl';
import { ProductConfigs } from './remote-config';
import { DeviceTags } from './tags';
import { DeviceLogs } from './log-upload';

export interface DeviceChannelsOptions {
  registry: Registry;
  state: DeviceStateStore;
  events: SimulatorEventBus;
  logger: Logger;
  files: FileStore;
  scripts?: ScriptStoreOptions;
  send(topic: string, payload: Buffer, qos: 0 | 1): Promise<void>;
  /** The device sent something: presence bookkeeping. */
  seen(id: DeviceId): void;
}

export class DeviceChannels {
  readonly scripts: ThingScripts;
  readonly raw: RawChannel;
  readonly configs: ProductConfigs;
  readonly tags: DeviceTags;
  readonly logs: DeviceLogs;

  constructor(private readonly opts: DeviceChannelsOptions) {
    this.scripts = new ThingScripts(opts.registry, opts.files, opts.scripts);
    this.raw = new RawChannel({ ...opts, scripts: this.scripts });
    this.configs = new ProductConfigs(opts);
    this.tags = new DeviceTags(opts);
    this.logs = new DeviceLogs(opts);
  }

  /** True when `topic` belongs to one of these channels (then it is handled here, asynchronously, never throwing). */
  uplink(topic: string, payload: Buffer, origin?: DeviceId): boolean {
    const t = parseChannelTopic(topic);
    const id = t ? { productKey: t.productKey, deviceName: t.deviceName } : this.snDefault(topic);
    if (!id) return false;
    if (origin && (origin.productKey !== id.productKey || origin.deviceName !== id.deviceName)) return true;
    if (!this.opts.registry.device(id.productKey, id.deviceName)) return true;
    this.opts.seen(id);
    const done = this.route(t?.name, id, topic, payload);
    done?.catch((e: Error) => this.opts.logger.error({ topic, err: e.message }, 'handling a device message failed'));
    return true;
  }

  /** DeleteDevice: the device's tags and logs go with it. */
  forget(id: DeviceId): void {
    this.tags.forget(id);
    this.logs.forget(id);
  }

  async close(): Promise<void> {
    await this.scripts.close();
  }

  private route(name: string | undefined, id: DeviceId, topic: string, payload: Buffer): Promise<void> | undefined {
    const raw = this.raw.isRaw(id.productKey);
    switch (name) {
      case undefined:
        return this.raw.customTopic(id, topic, payload);
      case 'upRaw':
        return raw ? this.raw.upRaw(id, payload) : undefined;
      case 'downRawReply':
        return raw ? this.raw.downRawReply(id, topic, payload) : undefined;
      case 'configGet':
        return this.configs.onGet(id, payload);
      case 'tagsUpdate':
        return this.tags.onUpdate(id, topic, payload);
      case 'tagsDelete':
        return this.tags.onDelete(id, topic, payload);
      case 'logConfigGet':
        return this.logs.onGet(id, payload);
      case 'logPost':
        return this.logs.onPost(id, payload);
      case 'configPushReply':
        return this.configs.onPushReply(id, topic, payload), undefined;
      default:
        return undefined;
    }
  }

  /** `/{pk}/{dn}/user/...?_sn=default` of a product with a parse script. */
  private snDefault(topic: string): DeviceId | undefined {
    if (!topic.endsWith(SN_DEFAULT)) return undefined;
    const parts = topic.split('/');
    if (parts.length < 5 || parts[0] !== '' || parts[3] !== 'user' || !parts[1] || !parts[2]) return undefined;
    return this.scripts.runner(parts[1]) ? { productKey: parts[1], deviceName: parts[2] } : undefined;
  }
}
