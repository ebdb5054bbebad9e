/**
 * The connection's health in one place, fed from the session's `state` events: what /healthz answers, what the
 * systemd watchdog asks (`isAlive`) and what the STATUS= line shows.
 */
import type { SessionState } from '../session/session';
import { displayUrl, oneLine } from '../lifecycle/status';

/** What /healthz reports: healthy or not, and why not in words. */
export interface HealthReport {
  healthy: boolean;
  /** Why not healthy, one line, e.g. `disconnected since 2026-03-01T10:00:00.000Z: connect ECONNREFUSED 10.0.0.1:1883`. */
  reason?: string;
  /** Extra fields for the JSON body. */
  details?: Record<string, unknown>;
}

/** The part of a session state change this tracker reads (the session's `SessionStateChange` fits). */
export interface ConnectionChange {
  state: SessionState;
  error?: Error | string;
  retryInMs?: number;
}

export interface ConnectionHealthOptions {
  /** The broker URL; reports show it without any user:password part. */
  brokerUrl: string;
  /** Wall clock for the "since" times; default `() => new Date()`. */
  clock?: () => Date;
}

export class ConnectionHealth {
  private current: SessionState = 'idle';
  private since: Date;
  private lastError: string | undefined;
  private retryInMs: number | undefined;
  private readonly clock: () => Date;
  private readonly brokerUrl: string;

  constructor(opts: ConnectionHealthOptions) {
    this.brokerUrl = displayUrl(opts.brokerUrl);
    this.clock = opts.clock ?? (() => new Date());
    this.since = this.clock();
  }

  get state(): SessionState {
    return this.current;
  }

  /** Records a state change; pass the session's `state` event as it is. */
  update(change: ConnectionChange): void {
    // "since" is when the connection came up or went down, not the time of each retry in between
    const wasUp = this.current === 'connected';
    const isUp = change.state === 'connected';
    if (wasUp !== isUp || change.state === 'stopped') this.since = this.clock();
    this.current = change.state;
    this.retryInMs = change.retryInMs;
    if (change.error !== undefined) {
      const message = typeof change.error === 'string' ? change.error : change.error.message;
      this.lastError = oneLine(message);
    } else if (isUp) {
      // A successful (re)connect ends the error: STATUS= and /healthz must not keep showing a cause that is over.
      this.lastError = undefined;
    }
  }

  /** Connected, or working on it: what gates the systemd watchdog. */
  isAlive(): boolean {
    return this.current === 'connected' || this.current === 'connecting' || this.current === 'reconnecting';
  }

  report(): HealthReport {
    const since = this.since.toISOString();
    const details = { state: this.current, since, broker: this.brokerUrl };
    switch (this.current) {
      case 'connected':
        return { healthy: true, details };
      case 'idle':
      case 'connecting':
        return { healthy: false, reason: `not connected yet (starting since ${since})${this.lastError ? `: ${this.lastError}` : ''}`, details };
      case 'reconnecting':
        return { healthy: false, reason: `disconnected since ${since}: ${this.lastError ?? 'connection lost'}`, details };
      case 'stopped':
        return { healthy: false, reason: `stopped since ${since}`, details };
    }
  }

  /** The fields of a STATUS= line (see lifecycle's formatStatus). */
  snapshot(): { state: SessionState; brokerUrl: string; lastError?: string; retryInMs?: number } {
    return { state: this.current, brokerUrl: this.brokerUrl, lastError: this.lastError, retryInMs: this.retryInMs };
  }
}
