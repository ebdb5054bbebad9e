/**
 * The STATUS= line `systemctl status alink-agent` shows, e.g.
 * `connected to mqtts://a1b2.iot-as-mqtt.cn-shanghai.aliyuncs.com:1883, outbox 12 pending, last error: none`.
 */

/** What the status line is made of; `state` takes the session's states. */
export interface StatusSnapshot {
  state: 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'stopped';
  /** Shown without any user:password part. */
  brokerUrl: string;
  /** QoS 1 messages waiting for a PUBACK, when an outbox is in use. */
  outboxPending?: number;
  /** The last connection error, one line; `none` when absent. */
  lastError?: string;
  /** When reconnecting: the wait before the next attempt. */
  retryInMs?: number;
  /** A gateway's sub-devices: how many of how many are online. */
  subDevices?: { online: number; total: number };
}

/**
 * Text squeezed onto one line (newlines become spaces), cut to `max` characters. A STATUS= value must stay on its
 * line: a newline in an error message would start a new assignment (`READY=1`, `MAINPID=`) that systemd obeys.
 */
export function oneLine(text: string, max = Number.POSITIVE_INFINITY): string {
  const s = text.replace(/[\r\n]+/g, ' ');
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

/** The broker URL without credentials (a URL may carry them; the status line is world-readable). */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//');
  }
}

export function formatStatus(s: StatusSnapshot): string {
  const url = displayUrl(s.brokerUrl);
  let head: string;
  switch (s.state) {
    case 'idle':
      head = 'starting';
      break;
    case 'connecting':
      head = `connecting to ${url}`;
      break;
    case 'connected':
      head = `connected to ${url}`;
      break;
    case 'reconnecting':
      head = `reconnecting to ${url}${s.retryInMs !== undefined ? ` (next attempt in ${Math.ceil(s.retryInMs / 1000)} s)` : ''}`;
      break;
    case 'stopped':
      head = 'stopped';
      break;
  }
  const parts = [head];
  if (s.outboxPending !== undefined) parts.push(`outbox ${s.outboxPending} pending`);
  if (s.subDevices) parts.push(`${s.subDevices.online} of ${s.subDevices.total} sub-devices online`);
  parts.push(`last error: ${s.lastError ? oneLine(s.lastError) : 'none'}`);
  return parts.join(', ');
}
