/**
 * Gateway benchmark (`npm run bench:gateway`), ratios against baselines measured in the same run, medians of
 * BENCH_REPEAT rounds (default 3), every round printed:
 *
 *   (a) property sets per second spread over 100 sub-devices / the same load on the gateway's own properties
 *       (goal >= 0.9)                                                         bench/gateway-sets.ts
 *   (b) CONNACK until 2,000 sub-devices are online / 2,000 / loginsPerSecond  (goal <= 1.2)  bench/gateway-sessions.ts
 *   (c) RSS per sub-device with 2,000 configured, against a gateway with none (goal <= 16 KB)  same
 *   (d) fleet: gateways per core and messages per second per core, agents / raw MQTT.js clients doing the same
 *       traffic (goal >= 0.7)                                                  bench/gateway-fleet.ts
 *
 * Every gateway measured is the agent CLI in a child process as shipped (durable stores, the systemd unit's node
 * options), except (d)'s, which are real agents K to a process (fleet mode). Results: docs/performance.md.
 * Env: BENCH_PARTS (default a,b,d; b includes c), BENCH_REPEAT, BENCH_LOG, BENCH_CPU_PROF (a folder for the CLI
 * gateways' V8 CPU profiles), and each part's own (see its file).
 */
import { median } from './stats';
import { FleetBench, FLEET_K, FLEET_M, FLEET_P, type FleetRound } from './gateway-fleet';
import { AGENT_LOGINS_PER_SECOND, SessionsBench, SUBS, type SessionsRound } from './gateway-sessions';
import { SetsBench, type SetsRound } from './gateway-sets';
import { SUB_LOGINS_PER_SECOND_MAX } from '../thing-model/wire';

const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const PARTS = new Set((process.env.BENCH_PARTS ?? 'a,b,d').split(','));
const f = (x: number, d = 2) => x.toFixed(d);
const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');

async function rounds<B extends { stop(): Promise<void> }, R>(start: () => Promise<B>, round: (b: B, i: number) => Promise<R>, show: (r: R, i: number) => string): Promise<R[]> {
  const b = await start();
  const out: R[] = [];
  try {
    for (let i = 0; i < REPEAT; i++) {
      out.push(await round(b, i));
      console.log(show(out[i] as R, i));
    }
  } finally {
    await b.stop();
  }
  return out;
}

async function partA(): Promise<string> {
  console.log('(a) property sets/s: 100 sub-devices vs the gateway\'s own properties');
  const rs = await rounds(SetsBench.start, (b, i) => b.round(i), (r: SetsRound, i) => `  round ${i + 1}: own ${f(r.own, 0)}/s (${f(r.ownCpuUs, 0)} µs CPU/set), subs ${f(r.subs, 0)}/s (${f(r.subsCpuUs, 0)} µs CPU/set), ratio ${f(r.subs / r.own)}, CPU ratio own/subs ${f(r.ownCpuUs / r.subsCpuUs)}; platform side (broker, simulator, cloud) ${f(r.ownPlatformCpuUs, 0)} / ${f(r.subsPlatformCpuUs, 0)} µs CPU/set`);
  const ratio = median(rs.map((r) => r.subs / r.own));
  const cpu = median(rs.map((r) => r.ownCpuUs / r.subsCpuUs));
  const platform = median(rs.map((r) => r.ownPlatformCpuUs / r.subsPlatformCpuUs));
  return `(a) sub-device / own sets per second: median ${f(ratio)} (goal >= 0.9: ${verdict(ratio >= 0.9)}); CPU per set own / sub-device: gateway ${f(cpu)}, platform side ${f(platform)}`;
}

async function partBC(): Promise<string[]> {
  const floor = (SUBS / AGENT_LOGINS_PER_SECOND) * 1000;
  const platformFloor = (SUBS / SUB_LOGINS_PER_SECOND_MAX) * 1000;
  console.log(`(b)(c) ${SUBS} sub-devices: CONNACK until all online (floor ${f(floor / 1000)} s at ${AGENT_LOGINS_PER_SECOND}/s, ${f(platformFloor / 1000)} s at the platform's ${SUB_LOGINS_PER_SECOND_MAX}/s), RSS`);
  const rs = await rounds(SessionsBench.start, (b) => b.round(), (r: SessionsRound, i) => `  round ${i + 1}: first start ${f(r.firstMs / 1000)} s, after a broker restart ${f(r.reconnectMs / 1000)} s; RSS ${f(r.rssMb, 1)} MB vs ${f(r.baselineRssMb, 1)} MB with none: ${f(r.kbPerSub, 1)} KB per sub-device; +${f(r.kbPerActiveSub, 1)} KB per sub-device that had a set`);
  const first = median(rs.map((r) => r.firstMs));
  const again = median(rs.map((r) => r.reconnectMs));
  const kb = median(rs.map((r) => r.kbPerSub));
  const kbActive = median(rs.map((r) => r.kbPerActiveSub));
  return [
    `(b) CONNACK to ${SUBS} online / floor: first start ${f(first / floor)} (${f(first / platformFloor)} of the platform's), after a reconnect ${f(again / floor)} (${f(again / platformFloor)}) (goal <= 1.2 after a reconnect: ${verdict(again / floor <= 1.2)})`,
    `(c) RSS per sub-device: median ${f(kb, 1)} KB configured (goal <= 16: ${verdict(kb <= 16)}); ${f(kb + kbActive, 1)} KB once it had traffic`,
  ];
}

async function partD(): Promise<string> {
  console.log(`(d) fleet: ${FLEET_K} gateways x ${FLEET_M} sub-devices x ${FLEET_P} posts/s, agents vs raw MQTT.js clients`);
  const show = (r: FleetRound, i: number) =>
    `  round ${i + 1}: agents ${f(r.agent.gatewaysPerCore, 1)} gateways/core, ${f(r.agent.msgsPerCore, 0)} msgs/s/core (${f(r.agent.msgsPerSecond, 0)} msgs/s); raw ${f(r.raw.gatewaysPerCore, 1)} gateways/core, ${f(r.raw.msgsPerCore, 0)} msgs/s/core (${f(r.raw.msgsPerSecond, 0)} msgs/s); raw + outbox ${f(r.outbox.msgsPerCore, 0)} msgs/s/core (${f(r.outbox.msgsPerSecond, 0)} msgs/s); ratios ${f(r.agent.gatewaysPerCore / r.raw.gatewaysPerCore)} / ${f(r.agent.msgsPerCore / r.raw.msgsPerCore)}, raw + outbox / raw ${f(r.outbox.msgsPerCore / r.raw.msgsPerCore)}`;
  const rs = await rounds(FleetBench.start, (b, i) => b.round(i), show);
  const g = median(rs.map((r) => r.agent.gatewaysPerCore / r.raw.gatewaysPerCore));
  const m = median(rs.map((r) => r.agent.msgsPerCore / r.raw.msgsPerCore));
  const ceiling = median(rs.map((r) => r.outbox.msgsPerCore / r.raw.msgsPerCore));
  return [
    `(d) agents / raw MQTT.js: gateways per core ${f(g)}, messages per second per core ${f(m)} (goal >= 0.7: ${verdict(g >= 0.7 && m >= 0.7)})`,
    `(d) raw MQTT.js + the durable outbox alone / raw: ${f(ceiling)} (the ceiling any agent that keeps its posts durably per gateway can reach)`,
  ].join('\n');
}

async function main(): Promise<void> {
  const summary: string[] = [];
  if (PARTS.has('a')) summary.push(await partA());
  if (PARTS.has('b') || PARTS.has('c')) summary.push(...(await partBC()));
  if (PARTS.has('d')) summary.push(await partD());
  console.log(`\nmedians of ${REPEAT} rounds:\n${summary.join('\n')}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
