/**
 * Splits a V8 CPU profile (`--cpu-prof`) by the time windows a bench recorded, and prints for each kind of window
 * the functions with the largest inclusive and self time per unit of work, side by side: where one load spends
 * more than the other. bench:gateway (a) writes `sets-slices.jsonl` next to the gateway's profile when
 * BENCH_CPU_PROF is set (one line per slice: `{ load, sets, fromUs, toUs }` on the monotonic clock V8's samples use).
 *
 *   node dist/bench/profile-split.js PROFILE SLICES [TOP]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}
interface Slice {
  load: string;
  sets: number;
  fromUs: number;
  toUs: number;
}

/** Per load: sampled µs in total, by function inclusive and self, and the work done in its windows. */
interface Split {
  totalUs: number;
  work: number;
  inclusive: Map<string, number>;
  self: Map<string, number>;
}

function frameName(n: ProfileNode): string {
  const f = n.callFrame;
  const file = f.url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^file:\/\//, '');
  return `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
}

export function splitProfile(profile: Profile, slices: readonly Slice[]): Map<string, Split> {
  const parent = new Map<number, number>();
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const out = new Map<string, Split>();
  for (const s of slices) {
    const split = out.get(s.load) ?? { totalUs: 0, work: 0, inclusive: new Map(), self: new Map() };
    split.work += s.sets;
    out.set(s.load, split);
  }
  const sorted = [...slices].sort((a, b) => a.fromUs - b.fromUs);
  let t = profile.startTime;
  let k = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    t += dt;
    while (k < sorted.length && (sorted[k] as Slice).toUs < t) k++;
    const s = sorted[k];
    if (!s || t < s.fromUs) continue;
    const split = out.get(s.load) as Split;
    // The delta before a sample is the time that sample stands for.
    split.totalUs += dt;
    let id: number | undefined = profile.samples[i] as number;
    const self = frameName(byId.get(id) as ProfileNode);
    split.self.set(self, (split.self.get(self) ?? 0) + dt);
    const seen = new Set<string>();
    while (id !== undefined) {
      const name = frameName(byId.get(id) as ProfileNode);
      if (!seen.has(name)) {
        seen.add(name);
        split.inclusive.set(name, (split.inclusive.get(name) ?? 0) + dt);
      }
      id = parent.get(id);
    }
  }
  return out;
}

function table(title: string, splits: Map<string, Split>, pick: (s: Split) => Map<string, number>, top: number): string {
  const loads = [...splits.keys()];
  const perUnit = (s: Split, name: string) => (pick(s).get(name) ?? 0) / Math.max(1, s.work);
  const names = new Set<string>();
  for (const s of splits.values()) for (const [n] of [...pick(s)].sort((a, b) => b[1] - a[1]).slice(0, top)) names.add(n);
  const spread = (n: string) => Math.max(...loads.map((l) => perUnit(splits.get(l) as Split, n))) - Math.min(...loads.map((l) => perUnit(splits.get(l) as Split, n)));
  const rows = [...names].sort((a, b) => spread(b) - spread(a));
  const head = `${title}: µs sampled per unit of work (share of the load's samples)\n${loads.map((l) => l.padStart(18)).join('')}  function`;
  const lines = rows.map((n) => `${loads.map((l) => {
    const s = splits.get(l) as Split;
    return `${perUnit(s, n).toFixed(2).padStart(8)} (${((100 * (pick(s).get(n) ?? 0)) / Math.max(1, s.totalUs)).toFixed(1).padStart(5)} %)`;
  }).join('  ')}  ${n}`);
  return [head, ...lines].join('\n');
}

function main(): void {
  const [profilePath, slicesPath, topArg] = process.argv.slice(2);
  if (!profilePath || !slicesPath) throw new Error('usage: profile-split PROFILE SLICES [TOP]');
  const profile = JSON.parse(readFileSync(profilePath, 'utf8')) as Profile;
  const slices = readFileSync(slicesPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Slice);
  const splits = splitProfile(profile, slices);
  const top = Number(topArg ?? 40);
  for (const [load, s] of splits) console.log(`${load}: ${s.work} units, ${(s.totalUs / 1000).toFixed(0)} ms sampled, ${(s.totalUs / Math.max(1, s.work)).toFixed(1)} µs per unit`);
  console.log(`\n${table('inclusive', splits, (s) => s.inclusive, top)}\n\n${table('self', splits, (s) => s.self, top)}`);
}

if (require.main === module) main();
