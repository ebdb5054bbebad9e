/**
 * The platform's half of log upload (docs/protocol/log-upload.md): the switch per device (the console's "report
 * local logs"; here the simulator's own API, `sim.setLogUploadMode`), answered to `thing.config.log.get` and
 * pushed with `thing/config/log/push` to an online device, and the `thing.log.post` items kept per device
 * (`sim.deviceLogs`). Each item is checked: a level of FATAL/ERROR/WARN/INFO/DEBUG, `utcTime` a string,
 * `logContent` at most 4096 bytes; a bad post is answered 460 naming the item, and nothing of it is kept.
 */
import type { Logger } from 'pino';
import { AlinkCodes, isPlainObject } from '../../thing-model';
import { AlinkMethods, channelTopics, MessageIdGenerator } from '../../thing-model/wire';
import type { DeviceStateStore } from '../state/device-state';
import type { DeviceId } from './acl';
import { parseJson } from './posts';

export interface DeviceLogItem {
  utcTime: string;
  logLevel: string;
  module?: string;
  code?: string;
  traceContext?: string;
  logContent: string;
  receivedAt: number;
}

const LEVELS = new Set(['FATAL', 'ERROR', 'WARN', 'INFO', 'DEBUG']);
const KEEP = 1000;

export class DeviceLogs {
  private readonly modes = new Map<string, 0 | 1>();
  private readonly logs = new Map<string, DeviceLogItem[]>();
  private readonly ids = new MessageIdGenerator();

  constructor(
    private readonly opts: {
      state: DeviceStateStore;
      logger: Logger;
      send(topic: string, payload: Buffer, qos: 0 | 1): Promise<void>;
    },
  ) {}

  /** DeleteDevice: its switch and its uploaded logs go with it. */
  forget(id: DeviceId): void {
    this.modes.delete(key(id));
    this.logs.delete(key(id));
  }

  /** Switches upload on (1) or off (0); an online device is told at once. Resolves with whether it was pushed. */
  async setMode(id: DeviceId, mode: 0 | 1): Promise<boolean> {
    this.modes.set(key(id), mode);
    if (this.opts.state.reachability(id.productKey, id.deviceName, Date.now()) !== 'ONLINE') return false;
    const body = { id: this.ids.nextId(), version: '1.0', params: { getType: 'content', content: { mode } }, method: AlinkMethods.LOG_CONFIG_PUSH };
    await this.opts.send(channelTopics(id).logConfigPush, Buffer.from(JSON.stringify(body)), 1);
    return true;
  }

  /** What the device uploaded, oldest first (the last 1000). */
  of(id: DeviceId): DeviceLogItem[] {
    return [...(this.logs.get(key(id)) ?? [])];
  }

  onGet(id: DeviceId, payload: Buffer): Promise<void> {
    const req = parseJson(payload);
    const reqId = req.ok && isPlainObject(req.value) ? req.value.id : undefined;
    const reply = { id: reqId, code: AlinkCodes.SUCCESS, data: { getType: 'content', content: { mode: this.modes.get(key(id)) ?? 0 } }, version: '1.0' };
    return this.opts.send(channelTopics(id).logConfigGetReply, Buffer.from(JSON.stringify(reply)), 0);
  }

  onPost(id: DeviceId, payload: Buffer): Promise<void> {
    const parsed = parseJson(payload);
    const req = parsed.ok && isPlainObject(parsed.value) ? parsed.value : undefined;
    const answer = (code: number, message?: string) =>
      this.opts.send(channelTopics(id).logPostReply, Buffer.from(JSON.stringify({ id: req?.id, code, data: {}, ...(message ? { message } : {}), version: '1.0' })), 0);
    if (!req || !Array.isArray(req.params) || req.params.length === 0) return answer(AlinkCodes.PARAM_ERROR, 'params: expected a non-empty list of log items');
    const items: DeviceLogItem[] = [];
    const now = Date.now();
    for (const [i, it] of req.params.entries()) {
      if (!isPlainObject(it)) return answer(AlinkCodes.PARAM_ERROR, `params[${i}]: expected an object`);
      if (typeof it.logLevel !== 'string' || !LEVELS.has(it.logLevel)) return answer(AlinkCodes.PARAM_ERROR, `params[${i}].logLevel: expected FATAL, ERROR, WARN, INFO or DEBUG, received ${JSON.stringify(it.logLevel)}`);
      if (typeof it.utcTime !== 'string') return answer(AlinkCodes.PARAM_ERROR, `params[${i}].utcTime: expected a time string`);
      if (typeof it.logContent !== 'string' || Buffer.byteLength(it.logContent) > 4096) return answer(AlinkCodes.PARAM_ERROR, `params[${i}].logContent: expected a string of at most 4096 bytes`);
      items.push({
        utcTime: it.utcTime,
        logLevel: it.logLevel,
        logContent: it.logContent,
        ...(typeof it.module === 'string' ? { module: it.module } : {}),
        ...(typeof it.code === 'string' ? { code: it.code } : {}),
        ...(typeof it.traceContext === 'string' ? { traceContext: it.traceContext } : {}),
        receivedAt: now,
      });
    }
    const list = this.logs.get(key(id)) ?? [];
    list.push(...items);
    if (list.length > KEEP) list.splice(0, list.length - KEEP);
    this.logs.set(key(id), list);
    return answer(AlinkCodes.SUCCESS);
  }
}

function key(id: DeviceId): string {
  return `${id.productKey}/${id.deviceName}`;
}
