/**
 * Log upload (docs/protocol/log-upload.md): the platform switches it on and off (`thing.config.log.get` after
 * connecting, `thing/config/log/push`); while on, the agent's own warnings and errors and its plugins' lines at
 * `logUpload.level` and above go up with `thing.log.post`, gathered for `batchMs`, at most `maxPerMinute` lines a
 * minute (the dropped ones counted in the next post), each `logContent` cut to `maxLineBytes`. Lines come from the
 * serialized log (tap.ts), so secrets are already censored. Posts are QoS 0: logs never take outbox room, and a
 * post while offline is dropped and counted.
 */
import type { Logger } from 'pino';
import { AlinkMethods, channelTopics, type DeviceIdentity } from '../../thing-model/wire';
import type { LogUploadSection } from '../config/schema';
import type { Router } from '../router';
import type { InboundMessage } from '../transport';
import { tapLogger } from './tap';

const LEVELS: Record<number, string> = { 60: 'FATAL', 50: 'ERROR', 40: 'WARN', 30: 'INFO', 20: 'DEBUG', 10: 'DEBUG' };
const LEVEL_VALUES = { fatal: 60, error: 50, warn: 40, info: 30, debug: 20 } as const;
const AGENT_MIN = 40;
const MAX_ITEMS_PER_POST = 50;
const COMPONENT = 'log-upload';

export interface LogItem {
  utcTime: string;
  logLevel: string;
  module: string;
  code: string;
  traceContext?: string;
  logContent: string;
}

export class LogUploader {
  private on = false;
  private readonly topics: ReturnType<typeof channelTopics>;
  private queue: LogItem[] = [];
  private dropped = 0;
  private windowStart = 0;
  private inWindow = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly untap: (() => void) | undefined;
  private readonly logger: Logger;

  constructor(
    private readonly opts: { identity: DeviceIdentity; router: Router; settings: LogUploadSection; logger: Logger },
  ) {
    this.topics = channelTopics(opts.identity);
    this.logger = opts.logger.child({ component: COMPONENT });
    opts.router.addReplyTopic(this.topics.logConfigGetReply);
    opts.router.addReplyTopic(this.topics.logPostReply);
    opts.router.addRoute({ topic: this.topics.logConfigPush, qos: 1, handle: (msg) => this.onPush(msg) });
    this.untap = tapLogger(opts.logger, (text) => this.onLines(text));
  }

  get enabled(): boolean {
    return this.on;
  }

  /** After every connect: ask whether uploading is on. Never rejects. */
  async onConnected(): Promise<void> {
    if (!this.opts.settings.fetchOnConnect) return;
    try {
      const reply = await this.opts.router.alinkUpstream.request(this.topics.logConfigGet, AlinkMethods.LOG_CONFIG_GET, { configScope: 'device', getType: 'content' }, 'log', { qos: 0 });
      this.setMode(modeOf(reply.data), 'get');
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'log upload switch not fetched');
    }
  }

  stop(): void {
    this.untap?.();
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue = [];
  }

  private onPush(msg: InboundMessage): void {
    let params: unknown;
    try {
      params = (JSON.parse(msg.payload.toString('utf8')) as { params?: unknown }).params;
    } catch {
      return this.logger.debug('log upload push is not JSON; ignored');
    }
    // C4 and the Go SDK send no push_reply; neither does the agent (docs/protocol/log-upload.md).
    this.setMode(modeOf(params), 'push');
  }

  private setMode(mode: number | undefined, source: string): void {
    if (mode === undefined) return this.logger.debug({ source }, 'log upload switch without content.mode; ignored');
    const on = mode === 1;
    if (on !== this.on) this.logger.info({ source, on }, on ? 'log upload switched on' : 'log upload switched off');
    this.on = on;
    if (!on) this.queue = [];
  }

  private onLines(text: string): void {
    if (!this.on) return;
    for (const line of text.split('\n')) {
      if (line.length === 0) continue;
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (o.component === COMPONENT || typeof o.level !== 'number') continue;
      const isPlugin = typeof o.plugin === 'string';
      if (o.level < (isPlugin ? LEVEL_VALUES[this.opts.settings.level] : Math.max(AGENT_MIN, LEVEL_VALUES[this.opts.settings.level]))) continue;
      this.enqueue(item(o, this.opts.settings.maxLineBytes));
    }
  }

  private enqueue(it: LogItem): void {
    const now = Date.now();
    if (now - this.windowStart >= 60_000) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow >= this.opts.settings.maxPerMinute) {
      this.dropped++;
      return;
    }
    this.inWindow++;
    this.queue.push(it);
    this.timer ??= setTimeout(() => this.flush(), this.opts.settings.batchMs);
  }

  private flush(): void {
    this.timer = undefined;
    const items = this.queue.splice(0, MAX_ITEMS_PER_POST);
    if (this.dropped > 0) {
      items.push({ utcTime: new Date().toISOString(), logLevel: 'WARN', module: COMPONENT, code: '', logContent: `${this.dropped} log lines not uploaded (logUpload.maxPerMinute)` });
      this.dropped = 0;
    }
    if (this.queue.length > 0) this.timer = setTimeout(() => this.flush(), this.opts.settings.batchMs);
    if (items.length === 0) return;
    this.opts.router.alinkUpstream.request(this.topics.logPost, AlinkMethods.LOG_POST, items, 'log', { qos: 0 }).catch((err: unknown) => {
      this.dropped += items.length;
      this.logger.debug({ err: (err as Error).message, lines: items.length }, 'log upload post failed; counted as dropped');
    });
  }
}

function modeOf(data: unknown): number | undefined {
  const content = data && typeof data === 'object' ? (data as { content?: unknown }).content : undefined;
  const mode = content && typeof content === 'object' ? (content as { mode?: unknown }).mode : undefined;
  return typeof mode === 'number' ? mode : undefined;
}

/** One serialized pino line as a `thing.log.post` item. */
function item(o: Record<string, unknown>, maxBytes: number): LogItem {
  const err = o.err as { message?: unknown; code?: unknown } | string | undefined;
  const errText = typeof err === 'string' ? err : typeof err?.message === 'string' ? err.message : '';
  const code = typeof o.code === 'string' || typeof o.code === 'number' ? String(o.code) : typeof err === 'object' && err?.code !== undefined ? String(err.code) : '';
  const msg = typeof o.msg === 'string' ? o.msg : '';
  const content = errText && !msg.includes(errText) ? `${msg}: ${errText}` : msg;
  const time = typeof o.time === 'number' ? o.time : Date.now();
  return {
    utcTime: new Date(time).toISOString(),
    logLevel: LEVELS[o.level as number] ?? 'INFO',
    module: typeof o.plugin === 'string' ? o.plugin : typeof o.component === 'string' ? o.component : 'agent',
    code,
    ...(typeof o.messageId === 'string' ? { traceContext: o.messageId } : {}),
    logContent: cut(content || line(o), maxBytes),
  };
}

function line(o: Record<string, unknown>): string {
  const { level: _l, time: _t, pid: _p, hostname: _h, name: _n, ...rest } = o;
  return JSON.stringify(rest);
}

/** At most `max` UTF-8 bytes, never splitting a character. */
function cut(s: string, max: number): string {
  const b = Buffer.from(s, 'utf8');
  if (b.length <= max) return s;
  let end = max;
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--;
  return b.subarray(0, end).toString('utf8');
}
