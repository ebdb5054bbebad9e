/**
 * The device channels beyond property, service and RRPC traffic, wired to one agent: remote configuration
 * (agent/device-config), static tags (agent/tags), log upload (agent/log-upload) and OTA (agent/ota, when
 * `ota.modules` lists any). Each registers its topics with the router before the agent subscribes, and acts after
 * every connect.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { MessageIdGenerator, type DeviceIdentity } from '../../thing-model/wire';
import type { AgentConfig } from '../config/load';
import { RemoteConfig } from '../device-config/remote-config';
import type { PluginHost } from '../plugins/loader';
import type { Router } from '../router';
import type { Session } from '../session/session';
import { StaticTags } from '../tags/static-tags';
import { LogUploader } from '../log-upload/uploader';
import type { OtaDevice, OtaObserver } from '../ota/device';
import { MemoryOtaStore, type OtaStore } from '../ota/store';
import type { Uplink } from '../transport';

export interface DeviceChannelsOptions {
  identity: DeviceIdentity;
  config: AgentConfig;
  router: Router;
  plugins: PluginHost;
  session: Session;
  logger: Logger;
  /** Where OTA publishes (the metered session); the session itself when absent. */
  uplink?: Uplink;
  /** The OTA jobs' store; in memory when absent. */
  otaStore?: OtaStore;
  otaObserver?: OtaObserver;
}

export class DeviceChannels {
  private readonly remoteConfig: RemoteConfig;
  private readonly tags: StaticTags;
  private readonly logs: LogUploader;
  /** The gateway's own OTA client; sub-devices get theirs from the gateway (issue 13). */
  readonly ota: OtaDevice | undefined;

  constructor(opts: DeviceChannelsOptions) {
    this.remoteConfig = new RemoteConfig({
      identity: opts.identity,
      router: opts.router,
      registry: opts.plugins.registry,
      settings: opts.config.remoteConfig,
      logger: opts.logger.child({ component: 'remote-config' }),
    });
    this.tags = new StaticTags(opts.config.tags, opts.router.alinkUpstream, opts.logger.child({ component: 'tags' }));
    this.logs = new LogUploader({ identity: opts.identity, router: opts.router, settings: opts.config.logUpload, logger: opts.logger });
    const ota = opts.config.ota;
    if (ota.modules.length > 0) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- an agent without ota.modules never holds the OTA modules
      const { OtaDevice: OtaDeviceClass } = require('../ota/device') as typeof import('../ota/device');
      this.ota = new OtaDeviceClass({
        device: opts.identity,
        settings: ota,
        stagingDir: join(opts.config.dataDir, ota.stagingDir),
        configDir: opts.config.configDir,
        store: opts.otaStore ?? new MemoryOtaStore(),
        uplink: opts.uplink ?? opts.session,
        router: opts.router,
        registry: opts.plugins.registry,
        ids: new MessageIdGenerator(),
        logger: opts.logger.child({ component: 'ota' }),
        ...(opts.otaObserver ? { observer: opts.otaObserver } : {}),
      });
    }
    opts.session.on('state', (s) => {
      if (s.state === 'connected') this.onConnected();
    });
  }

  private onConnected(): void {
    void this.remoteConfig.onConnected();
    void this.tags.onConnected();
    void this.logs.onConnected();
    void this.ota?.onConnected();
  }

  /** Before the first connect: OTA counts this start and resumes interrupted downloads. */
  async boot(): Promise<void> {
    await this.ota?.boot();
  }

  async stop(): Promise<void> {
    this.remoteConfig.stop();
    this.logs.stop();
    await this.ota?.stop();
  }
}
