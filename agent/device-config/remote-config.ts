/**
 * Remote configuration (docs/protocol/remote-config.md): after every connect the agent asks for the product's
 * configuration file (`thing.config.get`, when a plugin claims `config` and `remoteConfig.fetchOnConnect`), and
 * takes the platform's pushes (`thing/config/push`). Either way the file is downloaded within bounds, its SHA-256
 * compared with `sign`, and only then handed to the plugin's `config.apply` (deadline `remoteConfig.applyTimeoutMs`).
 * A push is answered on `push_reply`: 200 once applied, else the code of what went wrong, with the message naming
 * the field. A file already applied (same configId and digest) is not applied twice.
 */
import type { Logger } from 'pino';
import type { ConfigFile } from '../../handlers/api';
import { AlinkCodes, CloudReplyError } from '../../thing-model/codes';
import { AlinkMethods, channelTopics, type DeviceIdentity } from '../../thing-model/wire';
import type { RemoteConfigSection } from '../config/schema';
import type { HandlerRegistry } from '../plugins/registry';
import { Call, PendingCalls, runHandler } from '../router/call';
import type { Router } from '../router';
import type { InboundMessage } from '../transport';
import { download, sha256Hex } from './download';
import { RemoteConfigError, RemoteConfigErrors, hostOf } from './errors';

interface Announcement {
  configId: string;
  url: string;
  sign: string;
  configSize?: number;
}

export class RemoteConfig {
  private readonly topics: ReturnType<typeof channelTopics>;
  private applied: string | undefined;
  private readonly pending = new PendingCalls();
  private readonly stopping = new AbortController();

  constructor(
    private readonly opts: {
      identity: DeviceIdentity;
      router: Router;
      registry: HandlerRegistry;
      settings: RemoteConfigSection;
      logger: Logger;
    },
  ) {
    this.topics = channelTopics(opts.identity);
    if (!opts.registry.remoteConfig) return;
    opts.router.addReplyTopic(this.topics.configGetReply);
    opts.router.addRoute({ topic: this.topics.configPush, qos: 1, handle: (msg) => this.onPush(msg) });
  }

  /** After every connect: ask for the current file. Never rejects. */
  async onConnected(): Promise<void> {
    if (!this.opts.registry.remoteConfig || !this.opts.settings.fetchOnConnect) return;
    try {
      const reply = await this.opts.router.alinkUpstream.request(this.topics.configGet, AlinkMethods.CONFIG_GET, { configScope: 'product', getType: 'file' }, 'config');
      await this.take(reply.data, 'get');
    } catch (err) {
      if (err instanceof CloudReplyError) return this.opts.logger.info({ code: err.code, reason: err.message }, 'no remote configuration to fetch');
      this.opts.logger.warn({ err: describe(err), code: (err as { code?: unknown }).code }, 'remote configuration not applied');
    }
  }

  stop(): void {
    this.stopping.abort();
    this.pending.expireAll('agent is shutting down');
  }

  private async onPush(msg: InboundMessage): Promise<void> {
    let id = '';
    let code: number = AlinkCodes.SUCCESS;
    let message = 'success';
    try {
      const req = parseRequest(msg.payload);
      id = req.id;
      if (req.method !== undefined && req.method !== AlinkMethods.CONFIG_PUSH) throw RemoteConfigErrors.invalid('method', AlinkMethods.CONFIG_PUSH, req.method);
      await this.take(req.params, 'push');
    } catch (err) {
      code = err instanceof RemoteConfigError ? err.alinkCode : AlinkCodes.REQUEST_ERROR;
      message = describe(err);
      this.opts.logger.warn({ err: message, code: (err as { code?: unknown }).code }, 'remote configuration push refused');
    }
    const reply = JSON.stringify({ id, code, data: {}, ...(code === AlinkCodes.SUCCESS ? {} : { message }), version: '1.0' });
    await this.opts.router.alinkUpstream
      .publishReply(this.topics.configPushReply, reply)
      .catch((err: unknown) => this.opts.logger.warn({ err: describe(err) }, 'remote configuration push_reply not sent'));
  }

  /** Checks the announcement, downloads, checks the digest, applies; throws RemoteConfigError. */
  private async take(data: unknown, source: ConfigFile['source']): Promise<void> {
    const a = announcement(data);
    const key = `${a.configId}:${a.sign}`;
    if (this.applied === key) return this.opts.logger.debug({ configId: a.configId }, 'remote configuration already applied');
    const { maxBytes, downloadTimeoutMs, applyTimeoutMs } = this.opts.settings;
    if (a.configSize !== undefined && a.configSize > maxBytes) throw RemoteConfigErrors.tooLarge(a.configSize, maxBytes);
    const content = await download(a.url, { maxBytes, timeoutMs: downloadTimeoutMs, signal: this.stopping.signal });
    const digest = sha256Hex(content);
    if (digest !== a.sign) throw RemoteConfigErrors.digestMismatch(a.sign, digest);
    const slot = this.opts.registry.remoteConfig!;
    const apply = slot.instance.config!.apply;
    const now = Date.now();
    const call = new Call('config', a.configId, now, now + applyTimeoutMs, slot.logger);
    let o = runHandler((f: ConfigFile, c: Call) => apply(f, c), { configId: a.configId, content, source }, call, this.pending);
    if (o instanceof Promise) o = await o;
    if (!o.ok) throw RemoteConfigErrors.applyFailed(slot.name, o.expired ?? describe(o.error));
    this.applied = key;
    this.opts.logger.info({ configId: a.configId, bytes: content.length, source, from: hostOf(a.url) }, 'remote configuration applied');
  }
}

function parseRequest(payload: Buffer): { id: string; method?: unknown; params: unknown } {
  let v: unknown;
  try {
    v = JSON.parse(payload.toString('utf8'));
  } catch {
    throw RemoteConfigErrors.invalid('payload', 'a JSON object', payload.toString('utf8', 0, 80));
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw RemoteConfigErrors.invalid('payload', 'a JSON object', v);
  const o = v as Record<string, unknown>;
  return { id: typeof o.id === 'string' ? o.id.slice(0, 32) : '', method: o.method, params: o.params };
}

function announcement(data: unknown): Announcement {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw RemoteConfigErrors.invalid('params', 'an object {configId, url, sign, signMethod, configSize, getType}', data);
  const d = data as Record<string, unknown>;
  if (typeof d.configId !== 'string' || d.configId === '') throw RemoteConfigErrors.invalid('configId', 'a non-empty string', d.configId);
  if (typeof d.url !== 'string' || !/^https?:\/\//.test(d.url)) throw RemoteConfigErrors.invalid('url', 'an http:// or https:// URL', typeof d.url === 'string' ? hostOf(d.url) : d.url);
  if (typeof d.signMethod === 'string' && d.signMethod.toLowerCase() !== 'sha256') throw RemoteConfigErrors.invalid('signMethod', '"Sha256"', d.signMethod);
  if (typeof d.sign !== 'string' || !/^[0-9a-fA-F]{64}$/.test(d.sign)) throw RemoteConfigErrors.invalid('sign', 'a SHA-256 digest in hex (64 characters)', d.sign);
  if (d.getType !== undefined && d.getType !== 'file') throw RemoteConfigErrors.invalid('getType', '"file"', d.getType);
  const size = d.configSize;
  if (size !== undefined && (typeof size !== 'number' || !Number.isInteger(size) || size < 0)) throw RemoteConfigErrors.invalid('configSize', 'a byte count', size);
  return { configId: d.configId, url: d.url, sign: d.sign.toLowerCase(), ...(typeof size === 'number' ? { configSize: size } : {}) };
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
