/**
 * Paired comparisons for `npm run bench:sim`: two sides (a baseline and a contender) measured in short rounds that
 * alternate, AB BA AB …, so that a change in the machine's load hits both sides of every pair alike. Each pair
 * gives a rate ratio (contender / baseline) and the verdict is the median of those; beside it, the CPU time each
 * side spends per operation (the processes that serve it, summed over all rounds), which does not depend on how
 * much CPU the other helpers on the machine leave us.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { median } from './stats';

export interface RoundResult {
  ops: number;
  seconds: number;
  errors: number;
  firstError?: string;
  /** CPU ms of the processes that serve this side, by process; their sum is the side's cost. */
  cpuMs: Record<string, number>;
  /** CPU ms that is not the side's own cost (the load generator), shown for information. */
  infoCpuMs: Record<string, number>;
}

export interface Contender {
  name: string;
  round(ms: number): Promise<RoundResult>;
}

export interface SideSummary {
  name: string;
  opsPerSecond: number[];
  ops: number;
  errors: number;
  firstError?: string;
  /** Summed over all rounds, per operation: the side's serving processes (total and by process), and info. */
  cpuMsPerOp: number;
  cpuMsPerOpBy: Record<string, number>;
  infoCpuMsPerOpBy: Record<string, number>;
}

export interface PairedSummary {
  title: string;
  baseline: SideSummary;
  contender: SideSummary;
  /** Contender / baseline rate, one per pair. */
  pairRatios: number[];
  medianRatio: number;
  /** Baseline CPU per op / contender CPU per op (≥ 1: the contender is cheaper), one per pair and over all. */
  pairCpuRatios: number[];
  medianCpuRatio: number;
  cpuRatio: number;
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;
const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);

/** Runs `concurrency` loops of `call` for `ms`; counts completed calls and this process's CPU. */
export async function closedLoop(call: () => Promise<void>, concurrency: number, ms: number): Promise<Omit<RoundResult, 'cpuMs'>> {
  let ops = 0;
  let errors = 0;
  let firstError: string | undefined;
  const own0 = process.cpuUsage();
  const started = performance.now();
  const end = started + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        try {
          await call();
          ops++;
        } catch (e) {
          errors++;
          firstError ??= (e as Error).message;
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const own = process.cpuUsage(own0);
  return { ops, seconds, errors, ...(firstError ? { firstError } : {}), infoCpuMs: { client: (own.user + own.system) / 1000 } };
}

/**
 * CPU ms a process (its main thread) has run, from /proc/<pid>/schedstat (nanoseconds; utime + stime in
 * /proc/<pid>/stat count 10 ms ticks, too coarse for a 1 s round). Meant for mosquitto, which is single-threaded.
 */
export function procCpuMs(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  }
}

/** The pid of a child of `ppid` whose command is `comm` (e.g. the managed mosquitto the simulator started). */
export function childPid(ppid: number, comm: string): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (name === comm && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === ppid) return Number(d);
    } catch {
      // The process ended while we looked.
    }
  }
  return undefined;
}

function summarise(name: string, rounds: RoundResult[]): SideSummary {
  const ops = rounds.reduce((a, r) => a + r.ops, 0);
  const per = (pick: (r: RoundResult) => Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const r of rounds) for (const [k, v] of Object.entries(pick(r))) out[k] = (out[k] ?? 0) + v;
    for (const k of Object.keys(out)) out[k] = ops ? r3(out[k]! / ops) : NaN;
    return out;
  };
  const firstError = rounds.find((r) => r.firstError)?.firstError;
  const cpuMsPerOpBy = per((r) => r.cpuMs);
  return {
    name,
    opsPerSecond: rounds.map((r) => Math.round(r.ops / r.seconds)),
    ops,
    errors: rounds.reduce((a, r) => a + r.errors, 0),
    ...(firstError ? { firstError } : {}),
    cpuMsPerOp: r3(sum(cpuMsPerOpBy)),
    cpuMsPerOpBy,
    infoCpuMsPerOpBy: per((r) => r.infoCpuMs),
  };
}

/** A warm-up round of each side, then `pairs` pairs of rounds, the order within a pair alternating (AB, BA, …). */
export async function comparePaired(title: string, baseline: Contender, contender: Contender, pairs: number, roundMs: number, warmupMs = roundMs): Promise<PairedSummary> {
  await baseline.round(warmupMs);
  await contender.round(warmupMs);
  const b: RoundResult[] = [];
  const c: RoundResult[] = [];
  for (let i = 0; i < pairs; i++) {
    if (i % 2 === 0) {
      b.push(await baseline.round(roundMs));
      c.push(await contender.round(roundMs));
    } else {
      c.push(await contender.round(roundMs));
      b.push(await baseline.round(roundMs));
    }
  }
  const rate = (r: RoundResult) => r.ops / r.seconds;
  const cpuPerOp = (r: RoundResult) => (r.ops ? sum(r.cpuMs) / r.ops : NaN);
  const pairRatios = b.map((br, i) => r3(rate(c[i]!) / rate(br)));
  const pairCpuRatios = b.map((br, i) => r3(cpuPerOp(br) / cpuPerOp(c[i]!)));
  const baselineSummary = summarise(baseline.name, b);
  const contenderSummary = summarise(contender.name, c);
  return {
    title,
    baseline: baselineSummary,
    contender: contenderSummary,
    pairRatios,
    medianRatio: median(pairRatios),
    pairCpuRatios,
    medianCpuRatio: median(pairCpuRatios),
    cpuRatio: r3(baselineSummary.cpuMsPerOp / contenderSummary.cpuMsPerOp),
  };
}

/** Lines for the console: per-pair rates and ratios, the median, and each side's CPU per operation. */
/** `goal` undefined: a reference pairing that explains another, with no goal of its own. */
export function describePaired(p: PairedSummary, goal?: number): string[] {
  const verdict = (x: number) => (goal === undefined ? 'a reference, no goal' : `goal ≥ ${goal}: ${x >= goal ? 'met' : 'NOT met'}`);
  const cpu = (s: SideSummary) => {
    const by = Object.entries(s.cpuMsPerOpBy).map(([k, v]) => `${k} ${v}`);
    const info = Object.entries(s.infoCpuMsPerOpBy).map(([k, v]) => `${k} ${v}`);
    return `${s.cpuMsPerOp} ms/op (${by.join(' + ')})${info.length ? `; not counted: ${info.join(', ')}` : ''}`;
  };
  const errs = (s: SideSummary) => (s.errors ? `, ${s.errors} errors (first: ${s.firstError})` : '');
  return [
    `${p.title}`,
    `  ${p.baseline.name}: ${p.baseline.opsPerSecond.join(' ')} /s, ${p.baseline.ops} ops${errs(p.baseline)}; CPU ${cpu(p.baseline)}`,
    `  ${p.contender.name}: ${p.contender.opsPerSecond.join(' ')} /s, ${p.contender.ops} ops${errs(p.contender)}; CPU ${cpu(p.contender)}`,
    `  rate ratio per pair: ${p.pairRatios.join(' ')}; median ${p.medianRatio}× (${verdict(p.medianRatio)})`,
    `  CPU per op, baseline / contender, per pair: ${p.pairCpuRatios.join(' ')}; median ${p.medianCpuRatio}×, all rounds ${p.cpuRatio}× (${verdict(p.cpuRatio)})`,
  ];
}
