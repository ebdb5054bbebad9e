/**
 * The options of the meter driver example (`meter-driver.ts`): its JSON schema (checked with ajv by the agent at
 * start and on reload, defaults applied) and the checks a schema cannot say (unique names and addresses).
 */
import type { JsonSchema } from '../api';
import type { SimulatedMeter } from './meter-bus';

/** One meter on the bus: the sub-device it is in the cloud, and how the simulation plays it. */
export interface MeterConfig {
  /** The sub-device's DeviceName (its product is the driver's `productKey`). */
  deviceName: string;
  /** Bus address (Modbus unit id). */
  address: number;
  /**
   * The sub-device's DeviceSecret, handed to `ctx.gateway.add` and never logged. Omit it to have the agent register
   * the device dynamically (the product must allow it).
   */
  deviceSecret?: string;
  /** Simulation: what the meter reads at start. */
  temperatureC: number;
  energyKWh: number;
  powerW: number;
  setPointC: number;
  /** Simulation: windows, from the driver's start, in which the meter does not answer. */
  dropouts: Array<{ afterMs: number; forMs: number }>;
}

export interface MeterDriverOptions {
  /** The sub-device product the driver owns; the agent must have its Thing Model. Fixed for the life of the process. */
  productKey: string;
  /** How often every meter is read and its readings posted. */
  pollIntervalMs: number;
  /** How long one bus transaction takes (and how long a silent meter is waited for). */
  busLatencyMs: number;
  /** Consecutive unanswered polls after which a meter is reported lost (`ctx.gateway.setReachable(..., false)`). */
  lostAfterFailures: number;
  /** An Overheat event is posted when a meter's temperature reaches this (once per crossing). */
  overheatC: number;
  /** How long one "second" of Reset's DelaySeconds lasts, in ms (tests shorten it). */
  msPerSecond: number;
  meters: MeterConfig[];
}

const NUMBER = { type: 'number' };

export const METER_OPTIONS_SCHEMA: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['meters'],
  properties: {
    productKey: { type: 'string', pattern: '^[A-Za-z0-9]{1,32}$', default: 'a1SubDemo01' },
    pollIntervalMs: { type: 'integer', minimum: 10, default: 10000 },
    busLatencyMs: { type: 'integer', minimum: 0, maximum: 5000, default: 20 },
    lostAfterFailures: { type: 'integer', minimum: 1, default: 3 },
    overheatC: { ...NUMBER, default: 70 },
    msPerSecond: { type: 'integer', minimum: 0, default: 1000 },
    meters: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['deviceName', 'address'],
        properties: {
          // The platform's DeviceName rule (the agent's own device.deviceName has the same).
          deviceName: { type: 'string', pattern: '^[A-Za-z0-9_@.:-]{4,32}$' },
          address: { type: 'integer', minimum: 1, maximum: 247 },
          deviceSecret: { type: 'string', minLength: 1 },
          temperatureC: { ...NUMBER, minimum: -40, maximum: 85, default: 21 },
          energyKWh: { ...NUMBER, minimum: 0, maximum: 1_000_000, default: 0 },
          powerW: { ...NUMBER, minimum: 0, default: 1000 },
          setPointC: { ...NUMBER, minimum: 5, maximum: 35, default: 20 },
          dropouts: {
            type: 'array',
            default: [],
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['afterMs', 'forMs'],
              properties: { afterMs: { type: 'integer', minimum: 0 }, forMs: { type: 'integer', minimum: 1 } },
            },
          },
        },
      },
    },
  },
};

/** Two meters with one name or one bus address cannot be told apart: refused, naming the option. */
export function checkMeters(meters: readonly MeterConfig[]): void {
  for (const key of ['deviceName', 'address'] as const) {
    const first = new Map<unknown, number>();
    meters.forEach((m, i) => {
      const j = first.get(m[key]);
      if (j !== undefined) throw new Error(`option "meters[${i}].${key}": expected a value no other meter has, received ${JSON.stringify(m[key])} (meters[${j}] has it too)`);
      first.set(m[key], i);
    });
  }
}

/** What the simulated bus plays for a configured meter. */
export function simulatedMeter(m: MeterConfig): SimulatedMeter {
  return { address: m.address, temperatureC: m.temperatureC, energyKWh: m.energyKWh, powerW: m.powerW, setPointC: m.setPointC, relay: 1, mode: 0, dropouts: m.dropouts };
}
