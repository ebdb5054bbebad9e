/**
 * Example gateway driver: the meters behind the gateway (sub-devices of one product, `a1SubDemo01` by default, the
 * Thing Model `thing-model/fixtures/example-sensor.json`) on a simulated serial bus (`meter-bus.ts`). Copy it to
 * drive your own field bus. It shows:
 * - a `subDevices` claim: every sub-device of one product, with handlers that address the right meter by
 *   `call.device` and pass `call.signal` to the bus (a meter that does not answer is the call's error);
 * - the meters named in the options added at start with `ctx.gateway.add` (removed and added on reload);
 * - a meter that stops answering reported lost with `ctx.gateway.setReachable(device, false)`, and found again;
 * - each meter's readings posted periodically with `ctx.gateway.upstream(device).postProperties`, and an event;
 * - handlers typed per product with the generated `Meter` namespace (`alink-agent tsl types --product Meter=...`).
 *
 * The contract is that of any handler (handlers/README.md): a property set resolves once the meter holds the value
 * (its registers keep it, so the new state is durable); Reset clears the counter before its reply leaves.
 */
import { definePlugin, HandlerError, type CallContext, type DeviceIdentity, type PropertyClaim, type SubDeviceStatus, type TypedServices } from '../api';
import { BusTimeoutError, MeterBus, REGISTER_COUNT, REGISTERS, RESET_ENERGY, signed16, wait } from './meter-bus';
import type { Meter } from './meter-driver.types';
import { checkMeters, METER_OPTIONS_SCHEMA, simulatedMeter, type MeterConfig, type MeterDriverOptions } from './meter-options';

export type { MeterConfig, MeterDriverOptions } from './meter-options';

/** The driver's device-defined reply codes (100000–110000, docs/plugins.md "Errors a handler throws"). */
export const METER_CODES = {
  /** The call is for a sub-device of the product that the options do not place on the bus. */
  unknownMeter: 100100,
  /** The meter did not answer on the bus. */
  notAnswering: 100101,
  /** Reset's delay cannot elapse before the call's deadline. */
  delayTooLong: 100102,
} as const;

/** How each writable property reaches its register. */
const WRITABLE: Record<keyof Meter.WritableProperties, { register: number; word: (v: number) => number }> = {
  SetPoint: { register: REGISTERS.setPoint, word: (v) => Math.round(v * 10) },
  Relay: { register: REGISTERS.relay, word: (v) => v },
  Mode: { register: REGISTERS.mode, word: (v) => v },
};

/** The driver's view of one meter. */
interface MeterState {
  config: MeterConfig;
  device: DeviceIdentity;
  /** Consecutive polls it did not answer. */
  failures: number;
  /** What the driver last told the agent. */
  reachable: boolean;
  /** At or above `overheatC` at the last posted reading. */
  hot: boolean;
}

export default definePlugin<MeterDriverOptions>({
  name: 'meter-driver',
  optionsSchema: METER_OPTIONS_SCHEMA,
  startTimeoutMs: 10000,

  setup(ctx) {
    checkMeters(ctx.options.meters);
    let options = ctx.options;
    // The claim is made from it at setup and cannot change for the life of the process.
    const productKey = options.productKey;
    // Per instance: two agents in one process each have their own bus and meters.
    const meters = new Map<string, MeterState>();
    let bus: MeterBus | undefined;
    let timer: NodeJS.Timeout | undefined;
    let polling = false;
    let pollAgain = false;

    /** The meter a call is for, by `call.device`. */
    const meterOf = (call: CallContext): { meter: MeterState; line: MeterBus } => {
      const meter = call.device?.productKey === productKey ? meters.get(call.device.deviceName) : undefined;
      if (!meter || !bus) throw new HandlerError(`no meter ${call.device?.deviceName ?? '(no device)'} is on the bus`, METER_CODES.unknownMeter);
      return { meter, line: bus };
    };

    /** A bus transaction for a call: a meter that does not answer becomes the call's error code. */
    const onBus = async <T>(meter: MeterState, op: () => Promise<T>): Promise<T> => {
      try {
        return await op();
      } catch (err) {
        if (err instanceof BusTimeoutError) throw new HandlerError(`meter ${meter.device.deviceName} (bus address ${meter.config.address}) did not answer`, METER_CODES.notAnswering);
        throw err;
      }
    };

    const readAll = async (line: MeterBus, meter: MeterState, signal: AbortSignal): Promise<Meter.Properties> => {
      const w = await line.readRegisters(meter.config.address, 0, REGISTER_COUNT, signal);
      const word = (r: number) => w[r] ?? 0;
      return {
        Temperature: signed16(word(REGISTERS.temperature)) / 10,
        Energy: (word(REGISTERS.energyHigh) * 0x10000 + word(REGISTERS.energyLow)) / 1000,
        SetPoint: word(REGISTERS.setPoint) / 10,
        Relay: word(REGISTERS.relay) === 1 ? 1 : 0,
        // A value outside the enum is refused by the post's validation, and logged below.
        Mode: word(REGISTERS.mode) as Meter.Properties['Mode'],
      };
    };

    const warn = (meter: MeterState, what: string) => (err: unknown) => ctx.logger.warn({ err, meter: meter.device.deviceName }, `posting ${what} failed`);

    /** Posts a reading, and Overheat on a crossing, for a meter the agent has online. */
    const report = (meter: MeterState, values: Partial<Meter.Properties>): void => {
      // Only a logged-in sub-device has a session the platform takes its posts on (docs/protocol/gateway-traffic.md).
      if (ctx.gateway.status(meter.device)?.state !== 'online') return;
      const up = ctx.gateway.upstream(meter.device);
      up.postProperties(values).catch(warn(meter, 'readings'));
      if (values.Temperature === undefined) return;
      const hot = values.Temperature >= options.overheatC;
      if (hot && !meter.hot) up.postEvent('Overheat', { Temperature: values.Temperature } satisfies Meter.OverheatEvent).catch(warn(meter, 'Overheat'));
      meter.hot = hot;
    };

    /** One poll of one meter: post its readings, or count a silence and report it lost after enough of them. */
    const pollOne = async (line: MeterBus, meter: MeterState): Promise<void> => {
      let values: Meter.Properties;
      try {
        values = await readAll(line, meter, ctx.signal);
      } catch (err) {
        if (!(err instanceof BusTimeoutError)) throw err;
        meter.failures++;
        if (meter.reachable && meter.failures >= options.lostAfterFailures) {
          meter.reachable = false;
          ctx.logger.warn({ meter: meter.device.deviceName, address: meter.config.address, polls: meter.failures }, 'meter lost: it does not answer on the bus');
          await ctx.gateway.setReachable(meter.device, false);
        }
        return;
      }
      meter.failures = 0;
      if (!meter.reachable) {
        meter.reachable = true;
        ctx.logger.info({ meter: meter.device.deviceName }, 'meter found again');
        await ctx.gateway.setReachable(meter.device, true);
      }
      report(meter, values);
    };

    const tick = async (): Promise<void> => {
      timer = undefined;
      const line = bus;
      if (!line) return;
      polling = true;
      try {
        // One meter after the other: the line carries one transaction at a time anyway.
        for (const meter of [...meters.values()]) {
          if (ctx.signal.aborted || bus !== line) return;
          await pollOne(line, meter).catch((err: unknown) => {
            if (!ctx.signal.aborted) ctx.logger.warn({ err, meter: meter.device.deviceName }, 'polling the meter failed');
          });
        }
      } finally {
        polling = false;
      }
      if (ctx.signal.aborted || bus !== line) return;
      timer = setTimeout(() => void tick(), pollAgain ? 0 : options.pollIntervalMs);
      pollAgain = false;
    };

    /** Polls now rather than at the next interval (a meter just came online: the cloud has no values for it yet). */
    const pollSoon = (): void => {
      if (polling) pollAgain = true;
      else if (timer) {
        clearTimeout(timer);
        void tick();
      }
    };

    const addMeter = async (config: MeterConfig): Promise<void> => {
      const device = { productKey, deviceName: config.deviceName };
      meters.set(config.deviceName, { config, device, failures: 0, reachable: true, hot: false });
      bus?.attach(simulatedMeter(config));
      const status = await ctx.gateway.add({ ...device, ...(config.deviceSecret !== undefined ? { deviceSecret: config.deviceSecret } : {}) });
      // The secret stays out of the log line: only the name, the address and the state.
      ctx.logger.info({ meter: config.deviceName, address: config.address, state: status.state }, 'meter added');
    };

    const properties: PropertyClaim<Partial<Meter.WritableProperties>> = {
      ids: Object.keys(WRITABLE),
      async apply(values, call) {
        const { meter, line } = meterOf(call);
        // One register per value. When a later write fails the earlier ones stay: the cloud then hears an error for
        // values that may be applied, never a 200 for values that are not (handlers/README.md).
        for (const [id, value] of Object.entries(values) as Array<[keyof Meter.WritableProperties, number]>) {
          const w = WRITABLE[id];
          await onBus(meter, () => line.writeRegister(meter.config.address, w.register, w.word(value), call.signal));
        }
      },
      async get(ids, call) {
        const { meter, line } = meterOf(call);
        const all = await onBus(meter, () => readAll(line, meter, call.signal));
        return Object.fromEntries(ids.filter((id) => id in all).map((id) => [id, all[id as keyof Meter.Properties]]));
      },
    };

    const services: TypedServices<Meter.Services> = {
      async Reset(input, call) {
        const { meter, line } = meterOf(call);
        const delayMs = input.DelaySeconds * options.msPerSecond;
        const left = call.deadline - Date.now();
        // The counter is cleared before the reply leaves or not at all: a delay the call cannot wait for is refused
        // up front rather than answered 200 for a reset that happens later (or never, after a crash).
        if (delayMs + 2 * options.busLatencyMs > left) {
          throw new HandlerError(`DelaySeconds ${input.DelaySeconds} (${delayMs} ms) does not fit the ${Math.max(0, left)} ms left before the call's deadline`, METER_CODES.delayTooLong);
        }
        await wait(delayMs, call.signal);
        // Run again after a crash, it clears what accrued since: harmless for a counter the caller wants at zero.
        await onBus(meter, () => line.writeRegister(meter.config.address, REGISTERS.command, RESET_ENERGY, call.signal));
        report(meter, { Energy: 0 });
        return {};
      },
      async ReadMeter(_input, call) {
        const { meter, line } = meterOf(call);
        const { Energy } = await onBus(meter, () => readAll(line, meter, call.signal));
        return { Energy };
      },
    };

    return {
      subDevices: {
        products: [productKey],
        properties,
        services,
        onStateChange(device: SubDeviceStatus, previous) {
          const meter = device.productKey === productKey ? meters.get(device.deviceName) : undefined;
          const fields = { meter: device.deviceName, state: device.state, previous, reason: device.reason };
          if (device.state === 'failed') ctx.logger.error(fields, 'the platform refused the meter; it needs a new secret or to exist in the cloud');
          else if (device.state === 'disabled') ctx.logger.warn(fields, 'the cloud disabled the meter: its readings are not posted until it is enabled');
          else ctx.logger.info(fields, 'meter state changed');
          if (device.state === 'online' && meter) pollSoon();
        },
      },

      async start() {
        if (!ctx.gateway.model(productKey)) {
          throw new Error(`option "productKey": the agent has no Thing Model for sub-device product ${productKey}; configure the product with its TSL`);
        }
        bus = new MeterBus([], options.busLatencyMs);
        for (const m of options.meters) await addMeter(m);
        void tick();
      },

      stop() {
        if (timer) clearTimeout(timer);
        timer = undefined;
        bus?.close();
        bus = undefined;
      },

      async reload(next) {
        if (next.productKey !== productKey) throw new Error(`option "productKey": cannot change on reload (the claim was made for ${productKey})`);
        checkMeters(next.meters);
        const wanted = new Map(next.meters.map((m) => [m.deviceName, m]));
        for (const [name, meter] of [...meters]) {
          const kept = wanted.get(name);
          if (kept && JSON.stringify(kept) === JSON.stringify(meter.config)) continue;
          meters.delete(name);
          bus?.detach(meter.config.address);
          if (!kept) {
            await ctx.gateway.remove(meter.device);
            ctx.logger.info({ meter: name }, 'meter removed');
          }
        }
        options = next;
        for (const m of next.meters) if (!meters.has(m.deviceName)) await addMeter(m);
      },
    };
  },
});
