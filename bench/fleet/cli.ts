/**
 * `npm run fleet -- [options]`: N gateways x M sub-devices, each gateway a real agent in this process (one more as
 * a child process for kill-gateway), against the simulator's broker or an external MQTT 5 broker, under a load of
 * posts and cloud sets, through the chosen scenarios; prints the report as JSON and a table (docs/fleet.md).
 * Exit code 0 when nothing was lost, 1 when something was, 2 for bad options.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Fleet, SCENARIOS, type FleetOptions, type Scenario } from './fleet';
import { fleetReport, reportTable } from './report';
import { RUNNERS, type ScenarioResult } from './scenarios';
import type { BrokerMode } from './world';

export const USAGE = `usage: npm run fleet -- [--gateways N] [--sub-devices M] [--tsl FILE]... [--broker embedded|managed|external]
  [--broker-url mqtt://host:port] [--posts-per-second P] [--sets-per-second S] [--duration-ms D] [--down-ms D]
  [--scenario steady|broker-restart|kill-gateway]... [--log-level warn] [--reconnect-max-ms 2000]
  [--settle-timeout-ms 60000] [--json FILE]`;

/** Parses the command line; throws with a one-line message naming the option. */
export function parseFleetArgs(argv: string[]): { options: FleetOptions; scenarios: Scenario[]; json?: string } {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      gateways: { type: 'string', default: '5' },
      'sub-devices': { type: 'string', default: '50' },
      tsl: { type: 'string', multiple: true, default: [] },
      broker: { type: 'string', default: 'embedded' },
      'broker-url': { type: 'string' },
      'posts-per-second': { type: 'string', default: '1' },
      'sets-per-second': { type: 'string', default: '20' },
      'duration-ms': { type: 'string', default: '10000' },
      'down-ms': { type: 'string', default: '1000' },
      scenario: { type: 'string', multiple: true, default: [] },
      'log-level': { type: 'string', default: 'warn' },
      'reconnect-max-ms': { type: 'string', default: '2000' },
      'settle-timeout-ms': { type: 'string', default: '60000' },
      json: { type: 'string' },
    },
  });
  const num = (name: keyof typeof values, min: number, max: number): number => {
    const n = Number(values[name]);
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name}: expected a number in [${min}, ${max}], received ${String(values[name])}`);
    return n;
  };
  const broker = values.broker as BrokerMode;
  if (!['embedded', 'managed', 'external'].includes(broker)) throw new Error(`--broker: expected embedded, managed or external, received ${broker}`);
  const scenarios = (values.scenario.length ? values.scenario : [...SCENARIOS]) as Scenario[];
  for (const s of scenarios) if (!SCENARIOS.includes(s)) throw new Error(`--scenario: expected one of ${SCENARIOS.join(', ')}, received ${s}`);
  if (broker === 'external' && scenarios.includes('broker-restart')) throw new Error('--scenario broker-restart: the fleet cannot restart an external broker (restart it yourself, or choose other scenarios)');
  const options: FleetOptions = {
    gateways: num('gateways', 1, 10_000),
    subDevices: num('sub-devices', 1, 2000),
    tsls: values.tsl,
    broker,
    ...(values['broker-url'] ? { brokerUrl: values['broker-url'] } : {}),
    postsPerSecond: num('posts-per-second', 0, 1000),
    setsPerSecond: num('sets-per-second', 0, 100_000),
    durationMs: num('duration-ms', 300, 3_600_000),
    downMs: num('down-ms', 0, 600_000),
    logLevel: values['log-level'],
    reconnectMaxMs: num('reconnect-max-ms', 100, 600_000),
    settleTimeoutMs: num('settle-timeout-ms', 1000, 3_600_000),
    child: scenarios.includes('kill-gateway'),
  };
  return { options, scenarios, ...(values.json ? { json: values.json } : {}) };
}

/** Starts the fleet, runs the scenarios in order, stops it; resolves with the report. */
export async function runFleet(options: FleetOptions, scenarios: readonly Scenario[], log: (s: string) => void = () => undefined) {
  const { fleet, onlineMs } = await Fleet.start(options);
  log(`fleet online in ${onlineMs} ms`);
  const results: ScenarioResult[] = [];
  try {
    for (const s of scenarios) {
      log(`scenario ${s}...`);
      results.push(await RUNNERS[s](fleet));
    }
  } finally {
    await fleet.stop();
  }
  return fleetReport(options, onlineMs, results);
}

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseFleetArgs>;
  try {
    parsed = parseFleetArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const report = await runFleet(parsed.options, parsed.scenarios, (s) => process.stderr.write(`${s}\n`));
  const json = JSON.stringify(report, null, 2);
  if (parsed.json) writeFileSync(parsed.json, json + '\n');
  process.stdout.write(`${json}\n\n${reportTable(report)}\n`);
  return report.ok ? 0 : 1;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`fleet: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
