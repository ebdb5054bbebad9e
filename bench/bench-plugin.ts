/**
 * The Calibrate handler every device of bench:agent answers RRPC with: it awaits RRPC_HANDLER_MS (default 2 ms,
 * like a handler that asks a sensor) and returns a fixed output. Loaded by the agent CLI from its config file
 * (bench/agent-devices.ts writes it) and in-process by the other agent roles.
 */
import { definePlugin } from '../handlers/api';

export const CALIBRATE_OUT = { Success: 1, Offset: 0.5, CalibratedAt: '1700000000000', Message: 'ok' };
export const HANDLER_MS = Number(process.env.BENCH_RRPC_HANDLER_MS ?? 2);

/** Resolves with the fixed output after HANDLER_MS. */
export function calibrate(): Promise<typeof CALIBRATE_OUT> {
  return new Promise((r) => setTimeout(() => r(CALIBRATE_OUT), HANDLER_MS));
}

export default definePlugin({ name: 'bench', setup: () => ({ services: { Calibrate: calibrate } }) });
