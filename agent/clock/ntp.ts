/**
 * NTP over MQTT (docs/protocol/ntp.md): `{"deviceSendTime":"ms"}` on `/ext/ntp/{pk}/{dn}/request` (QoS 0) after
 * every connect and every `intervalMs` while connected; the platform answers on `.../response` with its receive
 * and send times, and true now = (serverRecvTime + serverSendTime + deviceRecvTime − deviceSendTime) / 2. Only an
 * answer to the request outstanding counts; device times are the system clock's, so the offset is measured against it.
 */
import type { Logger } from 'pino';
import type { Uplink } from '../transport';
import type { AgentClock } from './clock';

export interface NtpOptions {
  clock: AgentClock;
  uplink: Uplink;
  requestTopic: string;
  logger: Logger;
  /** Period of the re-sync while connected; 0 = only after connecting. */
  intervalMs: number;
}

export class NtpSync {
  private outstanding: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private warned = false;

  constructor(private readonly opts: NtpOptions) {}

  /** The connection is up: ask now, and periodically. */
  connected(): void {
    this.request();
    clearInterval(this.timer);
    if (this.opts.intervalMs > 0) {
      this.timer = setInterval(() => this.request(), this.opts.intervalMs);
      this.timer.unref();
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private request(): void {
    const sent = String(this.opts.clock.system());
    this.outstanding = sent;
    this.opts.uplink.publish(this.opts.requestTopic, JSON.stringify({ deviceSendTime: sent }), { qos: 0, messageClass: 'ntp' }).catch((err: unknown) => {
      this.opts.logger.debug({ err: (err as Error).message }, 'NTP request not sent; the next connect asks again');
    });
  }

  /** A message on the response topic. Never throws. */
  handle(payload: Buffer): void {
    const received = this.opts.clock.system();
    let m: { deviceSendTime?: unknown; serverRecvTime?: unknown; serverSendTime?: unknown };
    try {
      m = JSON.parse(payload.toString('utf8')) as typeof m;
    } catch {
      this.opts.logger.warn('NTP response is not JSON; dropped');
      return;
    }
    if (m === null || typeof m !== 'object') return;
    // Strings on the wire (some SDKs send numbers): read both.
    const sent = Number(m.deviceSendTime);
    const recv = Number(m.serverRecvTime);
    const send = Number(m.serverSendTime);
    if (String(m.deviceSendTime) !== this.outstanding || ![sent, recv, send].every(Number.isFinite)) {
      this.opts.logger.debug({ deviceSendTime: m.deviceSendTime }, 'NTP response to no outstanding request; ignored');
      return;
    }
    this.outstanding = undefined;
    const trueNow = (recv + send + received - sent) / 2;
    const { clock, logger } = this.opts;
    clock.adjust(trueNow, received);
    const s = clock.status();
    if (s.farOff) {
      logger.warn({ offsetMs: s.offsetMs, systemTime: new Date(received).toISOString(), correctedTime: new Date(clock.now()).toISOString() }, 'system clock is far off; using the time from NTP');
      this.warned = true;
    } else if (this.warned) {
      logger.info({ offsetMs: s.offsetMs }, 'system clock agrees with NTP again');
      this.warned = false;
    } else logger.debug({ offsetMs: s.offsetMs }, 'clock synchronised');
  }
}
