/**
 * The simulated field bus of the meter driver example (`meter-driver.ts`): meters behind the gateway on one shared
 * serial line, as Modbus RTU meters on RS-485 are. Each meter has a small map of 16-bit holding registers; the bus
 * carries one transaction at a time, each takes `latencyMs`, and a meter that is unplugged does not answer (the
 * transaction fails with {@link BusTimeoutError} after the latency). Replace this file with a real bus client
 * (a serial port, a TCP gateway) and the driver stays as it is.
 */
import { setTimeout as delay } from 'node:timers/promises';

/** The register map of one meter (word addresses). */
export const REGISTERS = {
  /** Temperature in 0.1 °C, signed. */
  temperature: 0,
  /** Energy counter in Wh, unsigned 32 bits: high word, then low word. */
  energyHigh: 1,
  energyLow: 2,
  /** Target temperature in 0.1 °C. */
  setPoint: 3,
  /** 0 open, 1 closed: the meter measures energy only while the relay is closed. */
  relay: 4,
  /** 0 auto, 1 manual, 2 off. */
  mode: 5,
  /** Write-only: {@link RESET_ENERGY} clears the energy counter. */
  command: 6,
} as const;

/** How many registers a full read covers (temperature through mode). */
export const REGISTER_COUNT = 6;

/** The command word that clears the energy counter. */
export const RESET_ENERGY = 0xa5;

/** What a simulated meter starts with, and when it drops off the bus. */
export interface SimulatedMeter {
  /** Bus address (Modbus unit id), 1..247. */
  address: number;
  temperatureC: number;
  energyKWh: number;
  /** Load while the relay is closed; the energy counter grows by it. */
  powerW: number;
  setPointC: number;
  relay: 0 | 1;
  mode: 0 | 1 | 2;
  /** Windows, from the bus's creation, during which the meter does not answer (a loose cable). */
  dropouts: ReadonlyArray<{ afterMs: number; forMs: number }>;
}

/** No answer from the addressed meter within the bus latency (unplugged, or no such address). */
export class BusTimeoutError extends Error {
  override readonly name = 'BusTimeoutError';
  readonly code = 'BUS_TIMEOUT';
  constructor(readonly address: number) {
    super(`no answer from bus address ${address}`);
  }
}

/** The bus was closed (the driver stopped) while a transaction waited or ran. */
export class BusClosedError extends Error {
  override readonly name = 'BusClosedError';
  readonly code = 'BUS_CLOSED';
  constructor() {
    super('the meter bus is closed');
  }
}

/** One meter's register file and the physics behind it. */
class MeterRegisters {
  private readonly words: number[] = new Array<number>(REGISTER_COUNT).fill(0);
  private energyWh: number;
  private lastUpdate: number;

  constructor(
    readonly spec: SimulatedMeter,
    private readonly since: number,
    now: number,
  ) {
    this.energyWh = spec.energyKWh * 1000;
    this.lastUpdate = now;
    this.words[REGISTERS.temperature] = Math.round(spec.temperatureC * 10) & 0xffff;
    this.words[REGISTERS.setPoint] = Math.round(spec.setPointC * 10);
    this.words[REGISTERS.relay] = spec.relay;
    this.words[REGISTERS.mode] = spec.mode;
  }

  answers(now: number): boolean {
    const t = now - this.since;
    return !this.spec.dropouts.some((d) => t >= d.afterMs && t < d.afterMs + d.forMs);
  }

  read(start: number, count: number, now: number): number[] {
    this.advance(now);
    const wh = Math.min(Math.floor(this.energyWh), 0xffffffff);
    this.words[REGISTERS.energyHigh] = Math.floor(wh / 0x10000);
    this.words[REGISTERS.energyLow] = wh % 0x10000;
    return this.words.slice(start, start + count);
  }

  write(register: number, value: number, now: number): void {
    this.advance(now);
    if (register === REGISTERS.command) {
      if (value === RESET_ENERGY) this.energyWh = 0;
      return;
    }
    this.words[register] = value & 0xffff;
  }

  /** Energy accrues only while the relay is closed. */
  private advance(now: number): void {
    if (this.words[REGISTERS.relay] === 1) this.energyWh += (this.spec.powerW * (now - this.lastUpdate)) / 3_600_000;
    this.lastUpdate = now;
  }
}

/** The shared serial line. Per agent instance: the driver creates one in `start` and closes it in `stop`. */
export class MeterBus {
  private readonly meters = new Map<number, MeterRegisters>();
  /** The end of the last queued transaction: the line carries one at a time. */
  private tail: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly since: number;

  constructor(
    meters: readonly SimulatedMeter[],
    private readonly latencyMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.since = now();
    for (const m of meters) this.attach(m);
  }

  /** Puts a meter on the line (a reload that adds one). */
  attach(meter: SimulatedMeter): void {
    this.meters.set(meter.address, new MeterRegisters(meter, this.since, this.now()));
  }

  /** Takes a meter off the line. */
  detach(address: number): void {
    this.meters.delete(address);
  }

  /** Reads `count` holding registers from `start`. Rejects with `signal.reason` once `signal` aborts. */
  readRegisters(address: number, start: number, count: number, signal: AbortSignal): Promise<number[]> {
    return this.transaction(address, signal, (m, now) => m.read(start, count, now));
  }

  /** Writes one holding register. */
  writeRegister(address: number, register: number, value: number, signal: AbortSignal): Promise<void> {
    return this.transaction(address, signal, (m, now) => m.write(register, value, now));
  }

  /** Fails every queued and future transaction. */
  close(): void {
    this.closed = true;
  }

  private transaction<T>(address: number, signal: AbortSignal, op: (m: MeterRegisters, now: number) => T): Promise<T> {
    const run = this.tail.then(async () => {
      if (this.closed) throw new BusClosedError();
      // A caller whose deadline passed while it queued does not get the line at all.
      signal.throwIfAborted();
      await wait(this.latencyMs, signal);
      if (this.closed) throw new BusClosedError();
      const meter = this.meters.get(address);
      const now = this.now();
      if (!meter || !meter.answers(now)) throw new BusTimeoutError(address);
      return op(meter, now);
    });
    this.tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}

/** Waits `ms`, or rejects with the signal's own reason (the deadline error, the plugin's stop) as soon as it aborts. */
export async function wait(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, { signal });
  } catch (err) {
    throw signal.aborted ? (signal.reason as Error) : err;
  }
}

/** A signed 16-bit word as a number. */
export function signed16(word: number): number {
  return word >= 0x8000 ? word - 0x10000 : word;
}
