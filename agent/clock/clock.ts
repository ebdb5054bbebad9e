/**
 * The agent's idea of the time: the system clock (or an injected source) plus the offset the last NTP exchange
 * measured (docs/protocol/ntp.md). Everything the agent stamps or signs reads `now()`; nothing patches `Date`.
 */
export interface ClockStatus {
  /** Corrected minus system time, ms; 0 before the first NTP answer. */
  offsetMs: number;
  /** Epoch ms (corrected) of the last NTP answer; undefined before the first. */
  syncedAt?: number;
  /** True when |offsetMs| exceeds the configured threshold. */
  farOff: boolean;
}

export class AgentClock {
  private offset = 0;
  private syncedAt: number | undefined;

  constructor(
    /** The system clock; injected by tests and embedders. */
    readonly system: () => number = Date.now,
    /** Beyond this |offset| the system clock counts as far off (warned in the logs, health and doctor). */
    readonly farOffMs = 2000,
  ) {}

  /** Corrected epoch ms. */
  now(): number {
    return Math.round(this.system() + this.offset);
  }

  /** Records an NTP result: `correctNow` is the true time at system time `systemAt`. */
  adjust(correctNow: number, systemAt: number): void {
    this.offset = correctNow - systemAt;
    this.syncedAt = this.now();
  }

  status(): ClockStatus {
    const offsetMs = Math.round(this.offset);
    return { offsetMs, ...(this.syncedAt !== undefined ? { syncedAt: this.syncedAt } : {}), farOff: Math.abs(offsetMs) > this.farOffMs };
  }
}
