/**
 * CONNECT rate for `npm run bench:sim`: MQTT.js clients connecting (CONNECT → CONNACK) and disconnecting in a
 * closed loop against one broker, each loop as its own device so no login kicks another. Run once against the
 * managed broker (the Alink auth plugin checks every signature and reports presence) and once against a plain
 * mosquitto with anonymous access, with the same credentials, in alternating rounds (bench/paired.ts).
 */
import { performance } from 'node:perf_hooks';
import { connectAsync, IClientOptions } from 'mqtt';
import { buildCredentials } from '../thing-model/wire';
import { percentile } from './stats';

export interface ConnectRate {
  broker: string;
  connectsPerSecond: number;
  p50: number;
  p99: number;
  connects: number;
  seconds: number;
  errors: number;
  firstError?: string;
}

export const BENCH_DEVICE_COUNT = 32;
export const benchDeviceName = (i: number) => `bench-${String(i).padStart(3, '0')}`;

export async function connectRate(broker: string, url: string, productKey: string, secret: string, durationMs: number, concurrency = BENCH_DEVICE_COUNT): Promise<ConnectRate> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const end = started + durationMs;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, BENCH_DEVICE_COUNT) }, async (_, i) => {
      while (performance.now() < end) {
        const creds = buildCredentials({ productKey, deviceName: benchDeviceName(i), deviceSecret: secret, signMethod: 'hmacsha256', secureMode: 3, timestamp: Date.now() });
        const opts: IClientOptions = { ...creds, protocolVersion: 5, reconnectPeriod: 0, keepalive: 60, connectTimeout: 5000 };
        const t0 = performance.now();
        try {
          const c = await connectAsync(url, opts);
          latencies.push(performance.now() - t0);
          await c.endAsync();
        } catch (e) {
          errors++;
          firstError ??= (e as Error).message;
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const sorted = latencies.sort((a, b) => a - b);
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    broker,
    connectsPerSecond: Math.round(latencies.length / seconds),
    p50: r2(percentile(sorted, 50)),
    p99: r2(percentile(sorted, 99)),
    connects: latencies.length,
    seconds,
    errors,
    ...(firstError ? { firstError } : {}),
  };
}
