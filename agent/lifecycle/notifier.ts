/**
 * The agent's side of systemd's notify protocol: typed messages over the addon, inert when the agent was not
 * started by systemd (no NOTIFY_SOCKET) or when the addon is missing. Sending never throws; a failure is logged
 * (once per kind of failure until a send succeeds again) and returned as a value.
 */
import type { Logger } from 'pino';
import { BindingLoad, loadNotifyBinding } from './binding';
import { LifecycleError, LifecycleErrors } from './errors';
import { oneLine } from './status';

/** The environment the integration reads: `process.env` in the agent, a plain object in tests. */
export type Env = Readonly<Record<string, string | undefined>>;

/** What became of one notification. */
export type NotifyResult =
  | { sent: true }
  /** `no-socket`: not run by systemd; `no-addon`: the addon could not be loaded (logged once at start). */
  | { sent: false; reason: 'no-socket' | 'no-addon' }
  | { sent: false; reason: 'error'; error: LifecycleError };

export interface SystemdNotifierOptions {
  /** Reads NOTIFY_SOCKET. */
  env: Env;
  logger: Logger;
  /** The addon, or why it is missing; default: loaded from this installation's native/. */
  binding?: BindingLoad;
}

/** Longest STATUS= text sent; `systemctl status` shows one line, and systemd caps a datagram at 4 KiB. */
export const MAX_STATUS_LENGTH = 512;

/** Keys of the notify protocol, sd_notify(3). */
export type NotifyKey = 'READY' | 'RELOADING' | 'STOPPING' | 'STATUS' | 'WATCHDOG' | 'MAINPID' | 'MONOTONIC_USEC' | 'ERRNO';

export class SystemdNotifier {
  /** NOTIFY_SOCKET, or undefined when not run by systemd. */
  readonly socketPath: string | undefined;
  /** Why the addon is missing, when it is. */
  readonly unavailable: LifecycleError | undefined;
  private readonly binding: BindingLoad;
  private readonly logger: Logger;
  /** The error code last logged; the same failure is not logged again until a send succeeds. */
  private lastFailure: string | undefined;

  constructor(opts: SystemdNotifierOptions) {
    this.socketPath = opts.env.NOTIFY_SOCKET || undefined;
    this.logger = opts.logger;
    this.binding = opts.binding ?? loadNotifyBinding();
    this.unavailable = this.binding.ok ? undefined : this.binding.error;
  }

  /** True when notifications actually go somewhere. */
  get enabled(): boolean {
    return this.socketPath !== undefined && this.binding.ok;
  }

  /** `READY=1`, with the status line when given. Also ends a reload. */
  ready(status?: string): NotifyResult {
    return this.send(status === undefined ? { READY: 1 } : { READY: 1, STATUS: status });
  }

  status(text: string): NotifyResult {
    return this.send({ STATUS: text });
  }

  stopping(status?: string): NotifyResult {
    return this.send(status === undefined ? { STOPPING: 1 } : { STOPPING: 1, STATUS: status });
  }

  /**
   * `RELOADING=1` with `MONOTONIC_USEC=`, which systemd ≥ 253 requires to tell this reload from a stale one;
   * end the reload with {@link ready}.
   */
  reloading(status?: string): NotifyResult {
    if (!this.binding.ok) return this.send({ RELOADING: 1 });
    const fields: Partial<Record<NotifyKey, string | number | bigint>> = { RELOADING: 1, MONOTONIC_USEC: this.binding.binding.monotonicUsec() };
    if (status !== undefined) fields.STATUS = status;
    return this.send(fields);
  }

  watchdogPing(): NotifyResult {
    return this.send({ WATCHDOG: 1 });
  }

  /** Tells systemd which pid is the main process (needed only when it is not the one systemd started). */
  mainPid(pid: number): NotifyResult {
    return this.send({ MAINPID: pid });
  }

  /** Sends the assignments as one datagram, in the order given. */
  send(fields: Partial<Record<NotifyKey, string | number | bigint>>): NotifyResult {
    if (this.socketPath === undefined) return { sent: false, reason: 'no-socket' };
    if (!this.binding.ok) return { sent: false, reason: 'no-addon' };
    const text = Object.entries(fields)
      .map(([k, v]) => `${k}=${oneLine(String(v), MAX_STATUS_LENGTH)}`)
      .join('\n');
    const keys = Object.keys(fields).join(',');
    try {
      this.binding.binding.notify(text, this.socketPath);
    } catch (err) {
      const e = err as Partial<NodeJS.ErrnoException>;
      const code = typeof e.code === 'string' ? e.code : 'UNKNOWN';
      const error = LifecycleErrors.notifyFailed(this.socketPath, keys, code, e.message ?? String(err));
      if (this.lastFailure !== code) {
        this.lastFailure = code;
        this.logger.warn({ err: error, code: error.code, errno: code }, `${error.message}; the same failure is not logged again until a notification gets through`);
      }
      return { sent: false, reason: 'error', error };
    }
    if (this.lastFailure !== undefined) {
      this.logger.info({ socket: this.socketPath }, 'systemd notify works again');
      this.lastFailure = undefined;
    }
    return { sent: true };
  }
}
