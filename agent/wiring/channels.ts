/**
 * The device channels beyond property, service and RRPC traffic, wired to one agent: remote configuration
 * (agent/device-config), static tags (agent/tags) and log upload (agent/log-upload). Each registers its topics
 * with the router before the agent subscribes, and acts after every connect.
 */
import type { Logger } from 'pino';
import type { DeviceIdentity } from '../../thing-model/wire';
import type { AgentConfig } from '../config/load';
import { RemoteConfig } from '../device-config/remote-config';
import type { PluginHost } from '../plugins/loader';
import type { Router } from '../router';
import type { Session } from '../session/session';
import { StaticTags } from '../tags/static-tags';
import { LogUploader } from '../log-upload/uploader';

export class DeviceChannels {
  private readonly remoteConfig: RemoteConfig;
  private readonly tags: StaticTags;
  private readonly logs: LogUploader;

  constructor(opts: { identity: DeviceIdentity; config: AgentConfig; router: Router; plugins: PluginHost; session: Session; logger: Logger }) {
    this.remoteConfig = new RemoteConfig({
      identity: opts.identity,
      router: opts.router,
      registry: opts.plugins.registry,
      settings: opts.config.remoteConfig,
      logger: opts.logger.child({ component: 'remote-config' }),
    });
    this.tags = new StaticTags(opts.config.tags, opts.router.alinkUpstream, opts.logger.child({ component: 'tags' }));
    this.logs = new LogUploader({ identity: opts.identity, router: opts.router, settings: opts.config.logUpload, logger: opts.logger });
    opts.session.on('state', (s) => {
      if (s.state === 'connected') this.onConnected();
    });
  }

  private onConnected(): void {
    void this.remoteConfig.onConnected();
    void this.tags.onConnected();
    void this.logs.onConnected();
  }

  stop(): void {
    this.remoteConfig.stop();
    this.logs.stop();
  }
}
