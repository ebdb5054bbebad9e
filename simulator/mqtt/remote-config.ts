/**
 * The platform's half of remote configuration (docs/protocol/remote-config.md). On the platform a product's
 * configuration file is edited and pushed in the console only (no OpenAPI action exists); the simulator offers
 * the same through its own API: `sim.setProductConfig(productKey, content, { push })`. Devices' `thing.config.get`
 * is answered with the file's id, size, SHA-256 and a signed, expiring URL served by the simulator's HTTP listener;
 * a push goes to every online device of the product, and their `push_reply`s land in the reply ring.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { AlinkCodes, isPlainObject } from '../../thing-model';
import { AlinkMethods, channelTopics, MessageIdGenerator } from '../../thing-model/wire';
import { ApiErrors } from '../errors';
import type { SimulatorEventBus } from '../events';
import type { FileStore } from '../http/files';
import type { Registry } from '../registry';
import type { DeviceStateStore } from '../state/device-state';
import type { DeviceId } from './acl';
import { parseJson } from './posts';

export interface ProductConfig {
  configId: string;
  configSize: number;
  /** SHA-256 of the content, hex: what devices check. */
  sign: string;
}

export interface ChannelDeps {
  registry: Registry;
  state: DeviceStateStore;
  events: SimulatorEventBus;
  logger: Logger;
  files: FileStore;
  send(topic: string, payload: Buffer, qos: 0 | 1): Promise<void>;
}

export class ProductConfigs {
  private readonly configs = new Map<string, ProductConfig>();
  private readonly ids = new MessageIdGenerator();

  constructor(private readonly opts: ChannelDeps) {}

  /**
   * Sets a product's configuration file. `sign` overrides the digest announced to devices (default: the content's
   * SHA-256), so that tests can check that a device refuses a file whose digest does not match.
   */
  set(productKey: string, content: Buffer, opts: { sign?: string } = {}): ProductConfig {
    if (!this.opts.registry.product(productKey)) throw ApiErrors.productNotFound(productKey);
    const cfg = {
      configId: randomBytes(8).toString('hex'),
      configSize: content.length,
      sign: opts.sign ?? createHash('sha256').update(content).digest('hex'),
    };
    this.opts.files.put(`config/${productKey}/${cfg.configId}`, content, 'application/octet-stream');
    this.configs.set(productKey, cfg);
    return cfg;
  }

  get(productKey: string): ProductConfig | undefined {
    return this.configs.get(productKey);
  }

  /** Sends `thing.config.push` to every online device of the product; resolves with the request id per device. */
  async push(productKey: string): Promise<Map<string, string>> {
    const cfg = this.configs.get(productKey);
    if (!cfg) throw ApiErrors.productNotFound(`${productKey} (no configuration set)`);
    const sent = new Map<string, string>();
    for (const d of this.opts.registry.allDevices()) {
      if (d.productKey !== productKey || this.opts.state.reachability(d.productKey, d.deviceName, Date.now()) !== 'ONLINE') continue;
      const id = this.ids.nextId();
      const body = { id, version: '1.0', params: this.announce(productKey, cfg), method: AlinkMethods.CONFIG_PUSH };
      await this.opts.send(channelTopics(d).configPush, Buffer.from(JSON.stringify(body)), 1);
      sent.set(d.deviceName, id);
    }
    return sent;
  }

  /** `thing.config.get`: the announcement, or 6710 when the product has no configuration. */
  async onGet(id: DeviceId, payload: Buffer): Promise<void> {
    const parsed = parseJson(payload);
    const req = parsed.ok && isPlainObject(parsed.value) ? parsed.value : {};
    const cfg = this.configs.get(id.productKey);
    const reply = cfg
      ? { id: req.id, code: AlinkCodes.SUCCESS, data: this.announce(id.productKey, cfg), version: '1.0' }
      : { id: req.id, code: AlinkCodes.CONFIG_OTA_6710, data: {}, message: 'no configuration for the product', version: '1.0' };
    await this.opts.send(channelTopics(id).configGetReply, Buffer.from(JSON.stringify(reply)), 0);
  }

  /** A device's `push_reply`, kept in its reply ring. */
  onPushReply(id: DeviceId, topic: string, payload: Buffer): void {
    const parsed = parseJson(payload);
    const json = parsed.ok && isPlainObject(parsed.value) ? parsed.value : undefined;
    const reply = {
      ...id,
      kind: 'configPushReply' as const,
      topic,
      payload,
      receivedAt: Date.now(),
      ...(json
        ? { json, id: json.id === undefined ? undefined : String(json.id), code: typeof json.code === 'number' ? json.code : undefined, ...(typeof json.message === 'string' ? { message: json.message } : {}) }
        : {}),
    };
    this.opts.state.get(id.productKey, id.deviceName).replies.push(reply);
    this.opts.events.emit('deviceReply', reply);
  }

  private announce(productKey: string, cfg: ProductConfig) {
    const url = this.opts.files.url(`config/${productKey}/${cfg.configId}`);
    return { configId: cfg.configId, configSize: cfg.configSize, sign: cfg.sign, signMethod: 'Sha256', url, getType: 'file' };
  }
}
