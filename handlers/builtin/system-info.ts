/**
 * Built-in `system-info`: posts gateway facts onto Thing Model properties named in its options, e.g.
 * `{ "intervalMs": 60000, "map": { "uptime": "Uptime", "cpuTemp": "Temperature" } }`.
 *
 * Facts: `uptime` (s), `loadavg1`/`loadavg5`/`loadavg15`, `memFreeKB`, `memTotalKB`, `memUsedPercent`,
 * `cpuTemp` (°C, from `{sysfsRoot}/class/thermal/thermal_zone<N>/temp`, preferring a CPU/SoC zone), `hostname`.
 * Each value is coerced to its property's type (int rounded, float/double snapped to `step`, date as a
 * millisecond string, text as a string); a value that still does not fit (out of range, too long) is skipped
 * and logged once per property.
 */
import { readdir, readFile } from 'node:fs/promises';
import { hostname, freemem, loadavg, totalmem, uptime } from 'node:os';
import { join } from 'node:path';
import { definePlugin, type PluginContext } from '../api';

export const FACTS = ['uptime', 'loadavg1', 'loadavg5', 'loadavg15', 'memFreeKB', 'memTotalKB', 'memUsedPercent', 'cpuTemp', 'hostname'] as const;
export type Fact = (typeof FACTS)[number];

export interface SystemInfoOptions {
  intervalMs: number;
  map: Partial<Record<Fact, string>>;
  /** Root of sysfs; tests point it at a fake tree. */
  sysfsRoot: string;
}

const SCALAR = new Set(['int', 'float', 'double', 'text', 'date', 'bool', 'enum']);

export const systemInfoPlugin = definePlugin<SystemInfoOptions>({
  name: 'system-info',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['map'],
    properties: {
      intervalMs: { type: 'integer', minimum: 1000, default: 60000 },
      map: {
        type: 'object',
        minProperties: 1,
        additionalProperties: false,
        properties: Object.fromEntries(FACTS.map((f) => [f, { type: 'string', minLength: 1 }])),
      },
      sysfsRoot: { type: 'string', minLength: 1, default: '/sys' },
    },
  },
  setup(ctx) {
    checkMap(ctx, ctx.options.map);
    let options = ctx.options;
    let timer: NodeJS.Timeout | undefined;
    const warned = new Set<string>();

    const tick = async () => {
      timer = undefined;
      try {
        const values = await collect(ctx, options, warned);
        if (Object.keys(values).length > 0) {
          ctx.upstream.postProperties(values).catch((err: unknown) => ctx.logger.warn({ err }, 'posting system facts failed'));
        }
      } catch (err) {
        ctx.logger.warn({ err }, 'collecting system facts failed');
      }
      if (!ctx.signal.aborted) timer = setTimeout(() => void tick(), options.intervalMs);
    };

    return {
      start() {
        void tick();
      },
      stop() {
        if (timer) clearTimeout(timer);
        timer = undefined;
      },
      reload(next) {
        checkMap(ctx, next.map);
        options = next;
        warned.clear();
        if (timer) {
          clearTimeout(timer);
          timer = setTimeout(() => void tick(), options.intervalMs);
        }
      },
    };
  },
});

function checkMap(ctx: PluginContext<SystemInfoOptions>, map: SystemInfoOptions['map']): void {
  for (const [fact, id] of Object.entries(map)) {
    const p = ctx.model.property(id as string);
    if (!p) throw new Error(`option "map.${fact}": property "${id}" is not in the Thing Model`);
    if (!SCALAR.has(p.dataType.type)) throw new Error(`option "map.${fact}": property "${id}" is a ${p.dataType.type}; only scalar properties can take a fact`);
  }
}

/** Reads the mapped facts and returns them coerced, keyed by property; unfit values are skipped (logged once). */
export async function collect(ctx: PluginContext<SystemInfoOptions>, options: SystemInfoOptions, warned: Set<string>): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const [fact, id] of Object.entries(options.map) as [Fact, string][]) {
    const raw = await readFact(fact, options.sysfsRoot);
    if (raw === undefined) {
      warnOnce(ctx, warned, `${fact}:missing`, { fact }, `fact ${fact} is not available on this system; skipped`);
      continue;
    }
    const p = ctx.model.property(id);
    if (!p) continue;
    const value = coerce(raw, p.dataType as { type: string; specs?: unknown });
    const v = value === undefined ? undefined : ctx.model.validatePropertyPost({ [id]: value });
    if (!v || !v.ok) {
      warnOnce(ctx, warned, `${fact}:${id}`, { fact, property: id, value: raw, reason: v?.message }, `fact ${fact} does not fit property ${id}; skipped`);
      continue;
    }
    out[id] = value;
  }
  return out;
}

function warnOnce(ctx: PluginContext<SystemInfoOptions>, warned: Set<string>, key: string, fields: object, msg: string): void {
  if (warned.has(key)) return;
  warned.add(key);
  ctx.logger.warn(fields, msg);
}

async function readFact(fact: Fact, sysfsRoot: string): Promise<number | string | undefined> {
  switch (fact) {
    case 'uptime':
      return uptime();
    case 'loadavg1':
      return loadavg()[0];
    case 'loadavg5':
      return loadavg()[1];
    case 'loadavg15':
      return loadavg()[2];
    case 'memFreeKB':
      return freemem() / 1024;
    case 'memTotalKB':
      return totalmem() / 1024;
    case 'memUsedPercent':
      return (1 - freemem() / totalmem()) * 100;
    case 'cpuTemp':
      return cpuTemperature(sysfsRoot);
    case 'hostname':
      return hostname();
  }
}

/** °C from the thermal zones: a CPU/SoC zone when one is named so, else the lowest-numbered readable zone. */
export async function cpuTemperature(sysfsRoot: string): Promise<number | undefined> {
  const dir = join(sysfsRoot, 'class', 'thermal');
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /^thermal_zone\d+$/.test(n));
  } catch {
    return undefined;
  }
  names.sort((a, b) => Number(a.slice(12)) - Number(b.slice(12)));
  let fallback: number | undefined;
  for (const n of names) {
    const temp = await readNumber(join(dir, n, 'temp'));
    if (temp === undefined) continue;
    const type = await readFile(join(dir, n, 'type'), 'utf8').catch(() => '');
    const celsius = temp / 1000;
    if (/cpu|soc|x86_pkg|core/i.test(type)) return celsius;
    if (fallback === undefined) fallback = celsius;
  }
  return fallback;
}

async function readNumber(path: string): Promise<number | undefined> {
  try {
    const n = Number((await readFile(path, 'utf8')).trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Coerces a fact to a TSL data type; range is left to the Thing Model's validation. */
export function coerce(raw: number | string, dataType: { type: string; specs?: unknown }): unknown {
  const specs = (dataType.specs ?? {}) as Record<string, unknown>;
  const num = typeof raw === 'number' ? raw : Number(raw);
  switch (dataType.type) {
    case 'int':
      return Number.isFinite(num) ? Math.round(num) : undefined;
    case 'float':
    case 'double': {
      if (!Number.isFinite(num)) return undefined;
      const step = Number(specs.step);
      if (!(step > 0)) return num;
      const min = Number.isFinite(Number(specs.min)) ? Number(specs.min) : 0;
      const decimals = decimalsOf(String(specs.step));
      return Number((min + Math.round((num - min) / step) * step).toFixed(decimals));
    }
    case 'text':
      return String(raw);
    case 'date':
      return Number.isFinite(num) ? String(Math.round(num)) : undefined;
    case 'bool':
      return Number.isFinite(num) ? (num ? 1 : 0) : undefined;
    case 'enum':
      return Number.isInteger(num) ? num : undefined;
    default:
      return undefined;
  }
}

function decimalsOf(step: string): number {
  const m = /\.(\d+)$/.exec(step);
  return m ? (m[1] as string).length : 0;
}
