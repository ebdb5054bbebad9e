/**
 * A child process of bench:gateway part (d) (bench/gateway-fleet.ts): K gateways with M sub-devices each, posting P
 * property posts per second per sub-device at QoS 1, either as real agents in this one process (`agent`: each an
 * `Agent` with its durable stores, posts through `ctx.gateway.upstream(device).postProperties`), as K raw MQTT.js
 * clients publishing the same posts on the same topics (`raw`: the floor), or as the same raw clients with each
 * QoS 1 publish going through a durable `Outbox` of its own file (`outbox`: what durability alone costs, the
 * ceiling of any agent that keeps its messages the way the agent does). Answers the parent's `cpu-start` /
 * `cpu-stop` with its CPU time and the posts it sent in between.
 *
 *   node dist/bench/gateway-host.js ROLE URL K M P
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { Outbox } from '../agent/outbox';
import { startInProcessGateway, type InProcessGateway } from './fleet/agents';
import { sleep } from './fleet/fleet';
import { Poster } from './fleet/poster';
import { fleetLayout, type FleetGateway } from './fleet/world';

export const RAW_CLIENT = { username: 'bench-gateway-raw', password: 'bench-gateway-raw-secret' };

interface Host {
  /** Starts the posts; returns how many were sent since. */
  load(): () => number;
  stop(): Promise<void>;
}

async function agentHost(url: string, gateways: FleetGateway[], products: ReturnType<typeof fleetLayout>['products'], M: number, P: number): Promise<Host> {
  const agents: InProcessGateway[] = [];
  for (const gw of gateways) agents.push(await startInProcessGateway({ mqttUrl: url, protocolVersion: 4, products }, gw, { logLevel: process.env.BENCH_LOG ?? 'warn', reconnectMaxMs: 2000 }));
  const deadline = Date.now() + 120_000;
  while (!agents.every((a) => a.online() === M)) {
    if (Date.now() > deadline) throw new Error('the agents\' sub-devices not online after 120 s');
    await sleep(50);
  }
  return {
    load() {
      let sent = 0;
      const posters = agents.map((a) => new Poster(a.gw.subs.map((s) => ({ device: s.id, seqProperty: s.product.seqProperty })), P, (d) => a.agent.gateway.api.upstream(d), () => sent++));
      for (const p of posters) p.start();
      return () => {
        for (const p of posters) p.stop();
        return sent;
      };
    },
    stop: async () => void (await Promise.all(agents.map((a) => a.stop()))),
  };
}

type Publish = (topic: string, body: string, done: () => void) => void;

async function rawHost(url: string, gateways: FleetGateway[], P: number, durable: boolean): Promise<Host> {
  const clients: MqttClient[] = [];
  const publishers: Publish[] = [];
  const outboxes: Outbox[] = [];
  const dir = durable ? mkdtempSync(join(tmpdir(), 'fleet-outbox-')) : undefined;
  for (const gw of gateways) {
    const outbox = dir ? Outbox.open({ file: join(dir, `${gw.id.deviceName}.db`), synchronous: 'full' }) : undefined;
    const c = await mqtt.connectAsync(url, {
      protocolVersion: 4,
      clientId: `${durable ? 'outbox' : 'raw'}-${gw.id.deviceName}`,
      ...RAW_CLIENT,
      reconnectPeriod: 0,
      writeCache: false,
      ...outbox?.mqttOptions(),
    } as mqtt.IClientOptions);
    (c.stream as unknown as { setNoDelay?(b: boolean): void }).setNoDelay?.(true);
    if (outbox) {
      outbox.attach(c);
      outboxes.push(outbox);
      // Counted at the PUBACK, as the raw client's are.
      publishers.push((topic, body, done) => {
        void outbox.publish(topic, body, { qos: 1, messageClass: 'property' }).then((r) => r.acked.then(done));
      });
    } else {
      publishers.push((topic, body, done) => c.publish(topic, body, { qos: 1 }, done));
    }
    // The agent's subscriptions for its sub-devices' post replies, as one filter per product.
    await c.subscribeAsync(Object.fromEntries([...new Set(gw.subs.map((s) => s.id.productKey))].map((pk) => [`/sys/${pk}/+/thing/event/property/post_reply`, { qos: 0 as const }])));
    clients.push(c);
  }
  return {
    load() {
      let sent = 0;
      let id = 1;
      const seq = new Map<string, number>();
      // The same pacing as the agents' posters: one timer per gateway, owed posts by elapsed time.
      const timers = gateways.map((gw, g) => {
        const publish = publishers[g] as Publish;
        let credit = 0;
        let next = 0;
        let last = performance.now();
        return setInterval(() => {
          const now = performance.now();
          credit += ((now - last) * P * gw.subs.length) / 1000;
          last = now;
          for (; credit >= 1; credit--) {
            const s = gw.subs[next++ % gw.subs.length] as FleetGateway['subs'][number];
            const k = s.id.deviceName;
            const n = (seq.get(k) ?? 0) + 1;
            seq.set(k, n);
            const body = JSON.stringify({ id: String(id++), version: '1.0', params: { [s.product.seqProperty]: n }, method: 'thing.event.property.post' });
            publish(`/sys/${s.id.productKey}/${k}/thing/event/property/post`, body, () => sent++);
          }
        }, 50);
      });
      return () => {
        for (const t of timers) clearInterval(t);
        return sent;
      };
    },
    stop: async () => {
      await Promise.all(clients.map((c) => c.endAsync()));
      for (const o of outboxes) o.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function main(): Promise<void> {
  const [role, url, k, m, p] = process.argv.slice(2);
  const M = Number(m);
  const P = Number(p);
  const { gateways, products } = fleetLayout({ gateways: Number(k), subDevices: M, tsls: [] });
  const host = role === 'agent' ? await agentHost(url as string, gateways, products, M, P) : await rawHost(url as string, gateways, P, role === 'outbox');
  let cpu = process.cpuUsage();
  let t0 = performance.now();
  let end: (() => number) | undefined;
  process.on('message', (msg) => {
    if (msg === 'cpu-start') {
      end = host.load();
      cpu = process.cpuUsage();
      t0 = performance.now();
    } else if (msg === 'cpu-stop') {
      const d = process.cpuUsage(cpu);
      const seconds = (performance.now() - t0) / 1000;
      const sent = end?.() ?? 0;
      process.send?.({ cpuUs: d.user + d.system, seconds, sent });
    } else if (msg === 'stop') {
      void host.stop().then(() => process.exit(0));
    }
  });
  process.send?.('ready');
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`gateway-host: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
