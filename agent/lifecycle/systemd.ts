/**
 * Everything the agent does for systemd, behind start/ready/stop: READY=1 once connected, STATUS= lines kept
 * current, WATCHDOG=1 pings while the agent is healthy, RELOADING=1 on SIGHUP, STOPPING=1 on the way out.
 * Without NOTIFY_SOCKET (not run by systemd) every call is a no-op; without the addon the agent says so once
 * and carries on.
 *
 * Wiring, in the agent:
 * ```ts
 * const systemd = new SystemdIntegration({ env: process.env, logger, isAlive: () => health.isAlive(),
 *   describe: () => formatStatus({ ...health.snapshot(), outboxPending: outbox.pending }) });
 * systemd.start();                                   // before connecting
 * session.on('state', () => systemd.updateStatus());
 * await session.connect(); systemd.ready();          // once the first connection is up (or given up waiting)
 * process.on('SIGHUP', async () => { systemd.reloading(); await reload(); systemd.ready(); });
 * systemd.stop();                                    // first thing on SIGTERM, before draining
 * ```
 */
import type { Logger } from 'pino';
import type { BindingLoad } from './binding';
import { Env, NotifyResult, SystemdNotifier } from './notifier';
import { Watchdog, watchdogFromEnv, WatchdogSetting } from './watchdog';

export interface SystemdIntegrationOptions {
  /** Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID; pass `process.env`. */
  env: Env;
  logger: Logger;
  /** True while the session is connected or actively reconnecting; gates the watchdog pings. */
  isAlive: () => boolean;
  /** The STATUS= line, e.g. from {@link formatStatus}; one line, read by people. */
  describe: () => string;
  /** How often STATUS= is refreshed even without {@link SystemdIntegration.updateStatus}; default 10 s. */
  statusRefreshMs?: number;
  /** Passed to the {@link Watchdog}: a timer later than this means the loop is not responsive at that moment. */
  maxLoopLagMs?: number;
  /** The process whose WATCHDOG_PID must match; default `process.pid`. */
  pid?: number;
  /** The addon, or why it is missing; default: loaded from this installation's native/. */
  binding?: BindingLoad;
}

const DEFAULT_STATUS_REFRESH_MS = 10_000;

export class SystemdIntegration {
  readonly notifier: SystemdNotifier;
  /** Present when systemd asked for pings (WATCHDOG_USEC for this pid) and notifications can be sent. */
  readonly watchdog: Watchdog | undefined;
  readonly watchdogSetting: WatchdogSetting;
  private readonly logger: Logger;
  private readonly statusRefreshMs: number;
  private statusTimer: NodeJS.Timeout | undefined;
  private lastStatus: string | undefined;
  private phase: 'new' | 'started' | 'stopped' = 'new';

  constructor(private readonly opts: SystemdIntegrationOptions) {
    this.logger = opts.logger.child({ component: 'systemd' });
    this.notifier = new SystemdNotifier({ env: opts.env, logger: this.logger, binding: opts.binding });
    this.statusRefreshMs = opts.statusRefreshMs ?? DEFAULT_STATUS_REFRESH_MS;
    this.watchdogSetting = watchdogFromEnv(opts.env, opts.pid ?? process.pid);
    if (this.watchdogSetting.enabled && this.notifier.enabled) {
      this.watchdog = new Watchdog({
        intervalMs: this.watchdogSetting.intervalMs,
        maxLagMs: opts.maxLoopLagMs,
        isAlive: opts.isAlive,
        ping: () => void this.notifier.watchdogPing(),
        logger: this.logger,
      });
    }
  }

  /** Says once how the integration stands, starts the watchdog and the STATUS= refresh. */
  start(): void {
    if (this.phase !== 'new') return;
    this.phase = 'started';
    const socket = this.notifier.socketPath;
    const unavailable = this.notifier.unavailable;
    if (unavailable) {
      this.logger.warn(
        { code: unavailable.code, notifySocket: socket ?? null },
        socket
          ? `${unavailable.message}; running without it: systemd will not see READY=1 or watchdog pings`
          : `${unavailable.message}; not needed now (NOTIFY_SOCKET is unset), but a Type=notify unit would not start`,
      );
    }
    if (!socket) {
      this.logger.debug('NOTIFY_SOCKET is unset (not run by systemd): notifications are off');
      return;
    }
    if (!this.notifier.enabled) return;
    const setting = this.watchdogSetting;
    if (setting.enabled) {
      this.logger.info({ watchdogUsec: setting.watchdogUsec, pingEveryMs: setting.intervalMs }, 'systemd watchdog on');
    } else if (setting.error) {
      this.logger.warn({ code: setting.error.code }, setting.error.message);
    } else {
      this.logger.debug(`systemd watchdog off: ${setting.reason}`);
    }
    this.updateStatus();
    this.watchdog?.start();
    this.statusTimer = setInterval(() => this.updateStatus(), this.statusRefreshMs);
    this.statusTimer.unref();
  }

  /** READY=1 with the current status: after the first connection, and again at the end of a reload. */
  ready(): NotifyResult {
    const status = this.describe();
    const result = this.notifier.ready(status);
    if (result.sent) this.lastStatus = status;
    return result;
  }

  /** RELOADING=1 (with MONOTONIC_USEC); call {@link ready} when the reload is done. */
  reloading(): NotifyResult {
    this.lastStatus = 'reloading configuration';
    return this.notifier.reloading(this.lastStatus);
  }

  /** Sends STATUS= when the line changed since the last one sent; call on every state change. */
  updateStatus(): void {
    if (this.phase !== 'started' || !this.notifier.enabled) return;
    const status = this.describe();
    if (status === this.lastStatus) return;
    if (this.notifier.status(status).sent) this.lastStatus = status;
  }

  /** STOPPING=1; ends the pings and the refresh. Call first on SIGTERM: the stop timeout runs from here. */
  stop(): void {
    if (this.phase === 'stopped') return;
    const wasStarted = this.phase === 'started';
    this.phase = 'stopped';
    this.watchdog?.stop();
    clearInterval(this.statusTimer);
    this.statusTimer = undefined;
    if (wasStarted) this.notifier.stopping('stopping: draining handlers and the outbox');
  }

  private describe(): string {
    try {
      return this.opts.describe();
    } catch (err) {
      this.logger.error({ err }, 'systemd: describe() threw; status line left as it was');
      return this.lastStatus ?? 'running';
    }
  }
}
