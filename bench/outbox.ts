/**
 * Outbox benchmark (`npm run bench:outbox`). On one mosquitto started here (loopback, free port, set_tcp_nodelay):
 *  1. QoS 1 publishes per second, each publisher awaiting its PUBACK before the next publish, through MQTT.js with
 *     its default in-memory store vs through the durable outbox (WAL, synchronous=FULL, group commit), with 1, 16
 *     and 256 concurrent publishers; prints the ratio outbox / in-memory.
 *  2. Restart with 100,000 pending messages: time from `Outbox.open` to the first replayed PUBLISH on the wire.
 * Every measurement runs BENCH_REPEAT times (default 3) and the medians are printed.
 * Env: BENCH_DURATION_MS (default 1500), BENCH_REPEAT, BENCH_SYNC=full|normal, BENCH_PENDING (default 100000).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { startMosquitto } from './brokers';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { Outbox } from '../agent/outbox';
import { median } from './stats';

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 1500);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const SYNC = (process.env.BENCH_SYNC ?? 'full') as 'full' | 'normal';
const PENDING = Number(process.env.BENCH_PENDING ?? 100_000);
const CONCURRENCY = [1, 16, 256];
const TOPIC = '/sys/a1TestPK01/bench1/thing/event/property/post';
const PAYLOAD = JSON.stringify({ id: '123456', version: '1.0', params: { Temperature: 21.5, Humidity: 40, LightSwitch: 1 }, method: 'thing.event.property.post' });

async function connected(c: MqttClient): Promise<void> {
  if (c.connected) return;
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no CONNACK within 5000 ms')), 5000);
    c.once('connect', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** Runs `n` publisher loops for DURATION_MS; returns completed publishes per second. */
async function drive(n: number, once: () => Promise<void>): Promise<number> {
  let done = 0;
  const start = process.hrtime.bigint();
  const end = Date.now() + DURATION_MS;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (Date.now() < end) {
        await once();
        done++;
      }
    }),
  );
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  return done / secs;
}

async function inMemory(url: string, n: number): Promise<number> {
  const c = mqtt.connect(url, { protocolVersion: 5, clientId: `bench-mem-${n}`, reconnectPeriod: 0 });
  await connected(c);
  const rate = await drive(n, async () => {
    await c.publishAsync(TOPIC, PAYLOAD, { qos: 1 });
  });
  await c.endAsync();
  return rate;
}

async function durable(url: string, dir: string, n: number, rep: number): Promise<{ rate: number; perCommit: number }> {
  const file = join(dir, `tput-${n}-${rep}.db`);
  const outbox = Outbox.open({ file, synchronous: SYNC });
  const c = mqtt.connect(url, { ...outbox.mqttOptions(), protocolVersion: 5, clientId: `bench-box-${n}`, reconnectPeriod: 0 });
  outbox.attach(c);
  await connected(c);
  const rate = await drive(n, async () => {
    const r = await outbox.publish(TOPIC, PAYLOAD, { qos: 1, messageClass: 'property' });
    await r.acked;
  });
  const s = outbox.stats();
  await c.endAsync();
  outbox.close();
  // Inserts and deletes both ride the commits.
  return { rate, perCommit: (2 * s.accepted) / Math.max(1, s.commits) };
}

async function restart(url: string, dir: string, rep: number): Promise<{ openMs: number; firstSendMs: number; fillMs: number }> {
  const file = join(dir, `restart-${rep}.db`);
  const t0 = Date.now();
  const filler = Outbox.open({ file, synchronous: SYNC, maxRows: PENDING + 1 });
  for (let i = 0; i < PENDING; i += 5000) {
    await Promise.all(Array.from({ length: Math.min(5000, PENDING - i) }, (_, k) => filler.publish(TOPIC, `${PAYLOAD}#${i + k}`, { qos: 1 })));
  }
  filler.close();
  const fillMs = Date.now() - t0;

  const start = process.hrtime.bigint();
  const outbox = Outbox.open({ file, synchronous: SYNC, maxRows: PENDING + 1 });
  const openMs = Number(process.hrtime.bigint() - start) / 1e6;
  if (outbox.depth() !== PENDING) throw new Error(`restart: expected ${PENDING} pending, found ${outbox.depth()}`);
  const c = mqtt.connect(url, { ...outbox.mqttOptions(), protocolVersion: 5, clientId: `bench-restart-${rep}`, reconnectPeriod: 0 });
  const first = new Promise<number>((resolve) => {
    const onSend = (p: { cmd: string }) => {
      if (p.cmd !== 'publish') return;
      c.removeListener('packetsend', onSend);
      resolve(Number(process.hrtime.bigint() - start) / 1e6);
    };
    c.on('packetsend', onSend);
  });
  outbox.attach(c);
  const firstSendMs = await first;
  await c.endAsync(true);
  outbox.close();
  return { openMs, firstSendMs, fillMs };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-outbox-'));
  const broker = await startMosquitto();
  const results: Record<string, unknown> = { durationMs: DURATION_MS, repeat: REPEAT, synchronous: SYNC };
  try {
    console.log(`outbox bench: mosquitto ${broker.url}, ${DURATION_MS} ms per run, ${REPEAT} runs each, synchronous=${SYNC}, data in ${dir}`);
    console.log('publishers |  in-memory msg/s |  outbox msg/s | ratio | msgs per commit');
    for (const n of CONCURRENCY) {
      const mem: number[] = [];
      const box: number[] = [];
      const per: number[] = [];
      for (let rep = 0; rep < REPEAT; rep++) {
        mem.push(await inMemory(broker.url, n));
        const d = await durable(broker.url, dir, n, rep);
        box.push(d.rate);
        per.push(d.perCommit);
      }
      const m = median(mem);
      const b = median(box);
      console.log(`${String(n).padStart(10)} | ${m.toFixed(0).padStart(16)} | ${b.toFixed(0).padStart(13)} | ${(b / m).toFixed(2).padStart(5)} | ${median(per).toFixed(1).padStart(6)}`);
      console.log(`           runs: in-memory ${mem.map((x) => x.toFixed(0)).join(', ')}; outbox ${box.map((x) => x.toFixed(0)).join(', ')}`);
      results[`c${n}`] = { inMemory: m, outbox: b, ratio: b / m, runs: { inMemory: mem, outbox: box } };
    }
    const opens: number[] = [];
    const firsts: number[] = [];
    for (let rep = 0; rep < REPEAT; rep++) {
      const r = await restart(broker.url, dir, rep);
      opens.push(r.openMs);
      firsts.push(r.firstSendMs);
      console.log(`restart with ${PENDING} pending (run ${rep + 1}): filled in ${r.fillMs} ms; open ${r.openMs.toFixed(1)} ms; first replayed PUBLISH sent ${r.firstSendMs.toFixed(1)} ms after open`);
    }
    console.log(`restart median: open ${median(opens).toFixed(1)} ms, first replayed message ${median(firsts).toFixed(1)} ms (goal < 1000 ms)`);
    results.restart = { pending: PENDING, openMs: median(opens), firstSendMs: median(firsts), runs: firsts };
    console.log(JSON.stringify(results));
  } finally {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
