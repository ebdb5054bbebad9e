/** The fleet's report: one JSON document (the options and every scenario's figures) and a short table. */
import type { FleetOptions } from './fleet';
import type { ScenarioResult } from './scenarios';

export interface FleetReport {
  options: Omit<FleetOptions, 'child'>;
  /** From the first gateway's start until every device was online. */
  onlineMs: number;
  scenarios: ScenarioResult[];
  /** True when no scenario lost a post or an answered set. */
  ok: boolean;
}

export function fleetReport(options: FleetOptions, onlineMs: number, scenarios: ScenarioResult[]): FleetReport {
  const { child: _child, ...rest } = options;
  return { options: rest, onlineMs, scenarios, ok: scenarios.every((s) => s.postsLost === 0 && (s.setsAnsweredLost ?? 0) === 0) };
}

const COLUMNS: [string, (s: ScenarioResult) => string][] = [
  ['scenario', (s) => s.scenario],
  ['posts/s', (s) => String(s.postsPerSecond)],
  ['sets/s', (s) => String(s.setsPerSecond)],
  ['set p50 ms', (s) => String(s.setP50Ms)],
  ['set p99 ms', (s) => String(s.setP99Ms)],
  ['cpu cores', (s) => String(s.cpuCores)],
  ['back online ms', (s) => (s.recoveryMs === undefined ? '-' : String(s.recoveryMs))],
  ['peak connects/s', (s) => (s.peakConnectsPerSecond === undefined ? '-' : String(s.peakConnectsPerSecond))],
  ['peak logins/s', (s) => (s.peakLoginsPerSecond === undefined ? '-' : String(s.peakLoginsPerSecond))],
  ['posts lost', (s) => `${s.postsLost}/${s.postsAccepted + (s.childPostsAccepted ?? 0)}`],
  ['sets lost', (s) => (s.setsAnsweredLost === undefined ? '-' : String(s.setsAnsweredLost))],
];

/** A fixed-width table, one row per scenario. */
export function reportTable(r: FleetReport): string {
  const rows = [COLUMNS.map(([h]) => h), ...r.scenarios.map((s) => COLUMNS.map(([, f]) => f(s)))];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((row) => (row[i] as string).length)));
  const line = (row: string[]) => row.map((c, i) => c.padEnd(widths[i] as number)).join('  ');
  const o = r.options;
  return [
    `fleet: ${o.gateways} gateways x ${o.subDevices} sub-devices, ${o.broker} broker, ${o.postsPerSecond} posts/s per sub-device, ${o.setsPerSecond} sets/s; all online in ${r.onlineMs} ms`,
    line(rows[0] as string[]),
    ...rows.slice(1).map(line),
    r.ok ? 'nothing lost' : 'LOST: see postsLost / setsAnsweredLost in the JSON',
  ].join('\n');
}
