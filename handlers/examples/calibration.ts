/**
 * Example plugin for the example gateway Thing Model (thing-model/fixtures/example-gateway.json). Copy it to
 * start your own. It shows:
 * - a sync service (`Calibrate`, answered over RRPC) that honours `call.signal`, typed with generated types;
 * - an async service (`Reboot`) that refuses a second call with 429 and posts an event later;
 * - a custom topic (`echo`) answering MQTT 5 requests on their Response Topic;
 * - a custom-topic RRPC (`rpc/ping`);
 * - options with a JSON schema, state kept per instance, cleanup in `stop`.
 *
 * Nothing here touches hardware: sensor readings come from the options, and "reboot" only posts BootCompleted.
 */
import { definePlugin, HandlerError, ThrottleError, type TypedServices, type UpstreamTimeoutError } from '../api';
import type { CalibrateInput, CalibrateOutput, Services } from './example-gateway.types';

export interface CalibrationOptions {
  /** Current raw readings the calibration compares against. */
  readings: { temperature: number; humidity: number; pm25: number };
  /** How long one "second" of SettleSeconds or DelaySeconds lasts, in ms (tests shorten it). */
  msPerSecond: number;
  firmwareVersion: string;
}

const SENSORS = ['temperature', 'humidity', 'pm25'] as const;

export default definePlugin<CalibrationOptions>({
  name: 'calibration',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      readings: {
        type: 'object',
        additionalProperties: false,
        properties: { temperature: { type: 'number' }, humidity: { type: 'number' }, pm25: { type: 'number' } },
        default: { temperature: 21, humidity: 45, pm25: 12 },
      },
      msPerSecond: { type: 'integer', minimum: 0, default: 1000 },
      firmwareVersion: { type: 'string', minLength: 1, maxLength: 64, default: '1.0.0' },
    },
  },
  startTimeoutMs: 2000,

  setup(ctx) {
    // Per-instance state: two agents in one process each get their own.
    const offsets: Record<string, number> = {};
    let rebootTimer: NodeJS.Timeout | undefined;

    const calibrate = async (input: CalibrateInput, call: { signal: AbortSignal }): Promise<CalibrateOutput> => {
      await sleep(input.SettleSeconds * ctx.options.msPerSecond, call.signal);
      const sensor = SENSORS[input.Sensor];
      const reading = ctx.options.readings[sensor];
      const offset = Math.round((input.ReferenceValue - reading) * 1000) / 1000;
      const now = String(Date.now());
      if (Math.abs(offset) > 100) {
        return { Success: 0, Offset: 0, CalibratedAt: now, Message: `reference ${input.ReferenceValue} is more than 100 away from the ${sensor} reading ${reading}` };
      }
      offsets[sensor] = offset;
      ctx.upstream.postProperties({ LastCalibrationTime: now }).catch((err: unknown) => ctx.logger.warn({ err }, 'posting LastCalibrationTime failed'));
      return { Success: 1, Offset: offset, CalibratedAt: now, Message: `${sensor} offset set to ${offset}` };
    };

    const services: TypedServices<Services> = {
      Calibrate: calibrate,
      Reboot: (input) => {
        if (rebootTimer) throw new ThrottleError('a reboot is already scheduled');
        rebootTimer = setTimeout(() => {
          rebootTimer = undefined;
          ctx.logger.info('simulated reboot done');
          const post = ctx.upstream.postEvent('BootCompleted', { Reason: 2, FirmwareVersion: ctx.options.firmwareVersion });
          // A late reply is no reason to post again: the message was stored and is still being delivered.
          post.reply.catch((err: Partial<UpstreamTimeoutError>) => {
            if (err.code === 'UPSTREAM_TIMEOUT' && err.stored) ctx.logger.info('BootCompleted stored, not answered yet; the agent goes on delivering it');
            else ctx.logger.warn({ err }, 'posting BootCompleted failed');
          });
        }, input.DelaySeconds * ctx.options.msPerSecond);
        return {};
      },
    };

    return {
      services,
      customTopics: {
        echo: (msg) => {
          if (msg.responseTopic) return { payload: msg.payload, userProperties: { echoed: 'true' } };
          // MQTT 3.1.1 has no Response Topic: answer on a topic of our own instead.
          void ctx.upstream.publish('echo/reply', msg.payload, { qos: 0 }).catch((err: unknown) => ctx.logger.warn({ err }, 'echo reply failed'));
          return undefined;
        },
      },
      rrpc: {
        topics: {
          'rpc/ping': (req) => {
            if (req.payload.length > 1024) throw new HandlerError('ping payload larger than 1 KiB', 100001);
            return Buffer.concat([Buffer.from('pong:'), req.payload]);
          },
        },
      },
      start() {
        ctx.logger.info({ firmware: ctx.options.firmwareVersion }, 'calibration plugin ready');
      },
      stop() {
        if (rebootTimer) clearTimeout(rebootTimer);
        rebootTimer = undefined;
      },
    };
  },
});

/** Waits `ms`, or rejects as soon as `signal` aborts (the agent has answered for us by then). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
