/**
 * Fleet mode (bench/fleet/, docs/fleet.md) through its real path: 2 gateways x 5 sub-devices against the
 * simulator's embedded broker, one gateway in this process and one as a child process (the agent CLI), posts
 * through `ctx.gateway.upstream(device).postProperties`, sets through the official cloud SDK, and each scenario a
 * few seconds. The figures are the report's business; this test checks what each scenario must show.
 */
import { parseFleetArgs, runFleet } from '../bench/fleet/cli';
import type { FleetReport } from '../bench/fleet/report';
import { reportTable } from '../bench/fleet/report';
import type { ScenarioResult } from '../bench/fleet/scenarios';
import { startMosquitto } from './helpers/brokers';

jest.setTimeout(180_000);

describe('fleet mode', () => {
  let report: FleetReport;
  const scenario = (name: string) => report.scenarios.find((s) => s.scenario === name) as ScenarioResult;

  beforeAll(async () => {
    const { options, scenarios } = parseFleetArgs([
      ...['--gateways', '2', '--sub-devices', '5', '--posts-per-second', '2', '--sets-per-second', '10'],
      ...['--duration-ms', '3000', '--down-ms', '500', '--settle-timeout-ms', '8000', '--log-level', 'silent'],
    ]);
    expect(scenarios).toEqual(['steady', 'broker-restart', 'kill-gateway']);
    report = await runFleet(options, scenarios);
  });

  it('steady: posts stored by the platform, sets answered 200 through the SDK with their latency, nothing lost', () => {
    const s = scenario('steady');
    expect(s.postsAccepted).toBeGreaterThan(0);
    expect(s.postsRefused).toBe(0);
    expect(s.postsPerSecond).toBeGreaterThan(0);
    expect(s.setsOk).toBeGreaterThan(0);
    expect(s.setsFailed).toBe(0);
    expect(s.setP50Ms).toBeGreaterThan(0);
    expect(s.setP99Ms).toBeGreaterThanOrEqual(s.setP50Ms);
    expect(s.cpuCores).toBeGreaterThan(0);
    expect(s.postsLost).toBe(0);
  });

  it('broker-restart: every gateway and sub-device back online, with the storm measured', () => {
    const s = scenario('broker-restart');
    expect(s.recoveryMs).toBeGreaterThanOrEqual(500);
    // Both gateways reconnect and all 10 sub-devices log in again after the restart.
    expect(s.peakConnectsPerSecond).toBeGreaterThanOrEqual(1);
    expect(s.peakLoginsPerSecond).toBeGreaterThanOrEqual(5);
    expect(s.setsFailed).toBe(0);
  });

  it('kill-gateway: the child gateway killed with SIGKILL comes back, and every set it answered 200 is still applied', () => {
    const s = scenario('kill-gateway');
    expect(s.recoveryMs).toBeGreaterThanOrEqual(500);
    expect(s.childPostsAccepted).toBeGreaterThan(0);
    expect(s.setsOk).toBeGreaterThan(0);
    expect(s.setsAnsweredLost).toBe(0);
  });

  it('the report: the table has a row per scenario, and ok says whether anything was lost', () => {
    const table = reportTable(report);
    for (const name of ['steady', 'broker-restart', 'kill-gateway']) expect(table).toMatch(new RegExp(`^${name} `, 'm'));
    expect(report.ok).toBe(report.scenarios.every((s) => s.postsLost === 0 && (s.setsAnsweredLost ?? 0) === 0));
  });

  // What fleet mode found first (docs/fleet.md, "What it found"): posts sent right after CONNACK, before the
  // sub-devices' logins, were refused and lost. The outbox now holds them until each device is online again.
  it('broker-restart and kill-gateway lose no post an agent accepted (QoS 1)', () => {
    expect(scenario('broker-restart').postsLost).toBe(0);
    expect(scenario('kill-gateway').postsLost).toBe(0);
  });

  it('options: a bad value names the option; an external broker cannot be restarted by the fleet', () => {
    expect(() => parseFleetArgs(['--sub-devices', '0'])).toThrow(/--sub-devices: expected a number in \[1, 2000\], received 0/);
    expect(() => parseFleetArgs(['--broker', 'cluster'])).toThrow(/--broker: expected embedded, managed or external/);
    expect(() => parseFleetArgs(['--broker', 'external', '--broker-url', 'mqtt://127.0.0.1:1883'])).toThrow(/broker-restart/);
    const ext = parseFleetArgs(['--broker', 'external', '--broker-url', 'mqtt://127.0.0.1:1883', '--scenario', 'steady']);
    expect(ext.options).toMatchObject({ broker: 'external', brokerUrl: 'mqtt://127.0.0.1:1883', child: false });
  });
});

describe('fleet mode on an external MQTT 5 broker (mosquitto standing in for an EMQX cluster)', () => {
  it('steady: the agents and the simulator meet on the broker; posts stored, sets answered, nothing lost', async () => {
    const broker = await startMosquitto();
    try {
      const { options, scenarios } = parseFleetArgs([
        ...['--broker', 'external', '--broker-url', broker.url, '--scenario', 'steady', '--gateways', '1', '--sub-devices', '3'],
        ...['--duration-ms', '2000', '--settle-timeout-ms', '8000', '--log-level', 'silent'],
      ]);
      const report = await runFleet(options, scenarios);
      const [s] = report.scenarios;
      expect(s).toMatchObject({ scenario: 'steady', postsLost: 0, setsFailed: 0 });
      expect(s?.postsAccepted).toBeGreaterThan(0);
      expect(s?.setsOk).toBeGreaterThan(0);
      expect(report.ok).toBe(true);
    } finally {
      await broker.stop();
    }
  });
});
