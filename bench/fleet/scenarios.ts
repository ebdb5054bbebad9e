/**
 * The fleet's scenarios, each on a running fleet (bench/fleet/fleet.ts) under its load:
 *
 *   steady          the load for the duration: messages per second, set latency p50/p99, CPU of this process
 *   broker-restart  the simulator's broker restarted a third of the way in (a reconnect storm): time until every
 *                   gateway and sub-device is back online, peak connects and logins per second, posts lost
 *   kill-gateway    the child-process gateway SIGKILLed a third of the way in, started again after the outage:
 *                   time until its sub-devices are back, posts it accepted and sets it answered 200 that were lost
 *
 * A post is lost when an agent accepted it (`stored` resolved durable) and the platform never stored it (checked
 * by each post's sequence key, after the load stops and the fleet had time to deliver). QoS 1 allows duplicates;
 * they are counted, not lost.
 */
import { performance } from 'node:perf_hooks';
import { percentile } from '../stats';
import { setKey } from './child-plugin';
import type { CloudSets } from './cloud-sets';
import { sleep, type Fleet, type Scenario } from './fleet';

export interface ScenarioResult {
  scenario: Scenario;
  seconds: number;
  postsAccepted: number;
  postsRefused: number;
  firstRefusal?: string;
  /** Posts the platform stored during the load, per second. */
  postsPerSecond: number;
  setsSent: number;
  /** Sets the load owed but did not send (no sub-device online, or 64 API calls already waiting). */
  setsSkipped: number;
  setsOk: number;
  setsFailed: number;
  setsNotDelivered: number;
  setsPerSecond: number;
  setP50Ms: number;
  setP99Ms: number;
  /** CPU time of this process (agents, simulator, cloud SDK; not a managed mosquitto) per second of wall time. */
  cpuCores: number;
  postsLost: number;
  lostSample: string[];
  duplicates: number;
  recoveryMs?: number;
  peakConnectsPerSecond?: number;
  peakLoginsPerSecond?: number;
  /** kill-gateway: sets the killed gateway had answered 200 whose value its restarted run did not hold. */
  setsAnsweredLost?: number;
  /** kill-gateway: posts the child gateway accepted over both of its runs. */
  childPostsAccepted?: number;
}

/** Runs the load around `during` (which gets the load's start time) and measures it. */
async function underLoad(fleet: Fleet, scenario: Scenario, during: (sets: CloudSets) => Promise<Partial<ScenarioResult>>): Promise<ScenarioResult> {
  fleet.takeAccepted();
  const stored0 = fleet.ledger.stored.size;
  const dup0 = fleet.ledger.duplicates;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const sets = fleet.startLoad();
  const extra = await during(sets);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const stored = fleet.ledger.stored.size - stored0;
  const posts = fleet.stopLoad();
  await sets.drain();
  const accepted = fleet.takeAccepted();
  const extraKeys = (extra as { keys?: string[] }).keys ?? [];
  const missing = await fleet.delivered([...accepted, ...extraKeys]);
  const lat = [...sets.counts.latencies].sort((a, b) => a - b);
  const { keys: _keys, ...rest } = extra as Partial<ScenarioResult> & { keys?: string[] };
  return {
    scenario,
    seconds: round(seconds, 2),
    postsAccepted: posts.accepted,
    postsRefused: posts.refused,
    ...(posts.firstRefusal ? { firstRefusal: posts.firstRefusal } : {}),
    postsPerSecond: round(stored / seconds, 1),
    setsSent: sets.counts.sent,
    setsSkipped: sets.counts.skipped,
    setsOk: sets.counts.ok,
    setsFailed: sets.counts.failed,
    setsNotDelivered: sets.counts.notDelivered,
    setsPerSecond: round(sets.counts.ok / seconds, 1),
    setP50Ms: round(percentile(lat, 50), 2),
    setP99Ms: round(percentile(lat, 99), 2),
    cpuCores: round((cpu.user + cpu.system) / 1e6 / seconds, 3),
    postsLost: missing.length,
    lostSample: missing.slice(0, 5),
    duplicates: fleet.ledger.duplicates - dup0,
    ...rest,
  };
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

export function steady(fleet: Fleet): Promise<ScenarioResult> {
  return underLoad(fleet, 'steady', async () => {
    await sleep(fleet.o.durationMs);
    return {};
  });
}

export function brokerRestart(fleet: Fleet): Promise<ScenarioResult> {
  return underLoad(fleet, 'broker-restart', async () => {
    const third = fleet.o.durationMs / 3;
    await sleep(third);
    const t0 = Date.now();
    await fleet.world.sim.restartBroker(fleet.o.downMs);
    // The agents see the drop later than the restart began: wait until they noticed, then until all are back.
    while (fleet.allOnline() && Date.now() - t0 < 5000) await sleep(10);
    await fleet.waitOnline(fleet.o.settleTimeoutMs, 'after the broker restart');
    const recoveryMs = Date.now() - t0;
    await sleep(third);
    return { recoveryMs, ...peaks(fleet.ledger.peaks(t0)) };
  });
}

const peaks = (p: { connectsPerSecond: number; loginsPerSecond: number }) => ({ peakConnectsPerSecond: p.connectsPerSecond, peakLoginsPerSecond: p.loginsPerSecond });

export function killGateway(fleet: Fleet): Promise<ScenarioResult> {
  const child = fleet.child;
  if (!child) throw new Error('kill-gateway needs the child gateway (the fleet was started without it)');
  const subs = new Set(child.gw.subs.map((s) => `${s.id.productKey}/${s.id.deviceName}`));
  return underLoad(fleet, 'kill-gateway', async (sets) => {
    const third = fleet.o.durationMs / 3;
    await sleep(third);
    const t0 = Date.now();
    await child.kill();
    const gwKey = `${child.gw.id.productKey}/${child.gw.id.deviceName}`;
    // The platform sees the connection drop a moment after the kill: until then the fleet still looks online.
    for (const until = Date.now() + 5000; fleet.ledger.online.has(gwKey) && Date.now() < until; ) await sleep(10);
    // What the killed process had answered 200 (the platform's record of its replies up to the kill).
    const answered = sets.counts.answered.filter((a) => subs.has(a.device));
    await sleep(fleet.o.downMs);
    child.start();
    await fleet.waitOnline(fleet.o.settleTimeoutMs, 'after the gateway restart');
    const recoveryMs = Date.now() - t0;
    await sleep(third);
    child.stopPosting();
    await sleep(200);
    const applied = child.appliedAtStart();
    const setsAnsweredLost = answered.filter((a) => !applied.has(setKey(a.device.split('/')[1] as string, a.id))).length;
    const keys = child.accepted();
    return { recoveryMs, ...peaks(fleet.ledger.peaks(t0)), setsAnsweredLost, childPostsAccepted: keys.length, keys } as Partial<ScenarioResult>;
  });
}

export const RUNNERS: Record<Scenario, (fleet: Fleet) => Promise<ScenarioResult>> = { steady, 'broker-restart': brokerRestart, 'kill-gateway': killGateway };
