/**
 * kill -9 of a gateway agent with sub-device traffic in flight, on both simulator brokers (docs/protocol/gateway.md,
 * gateway-traffic.md): the CLI (`alink-agent run`) on a config file with six sub-devices, two of which get their
 * secret from `thing.sub.register`; a driver plugin written into the test's folder owns their product and applies
 * each set durably in `ctx.state`, keyed by the sub-device (`call.device`). The official cloud SDK streams
 * SetDeviceProperty to every sub-device (one set in flight per sub-device, each carrying a new `Seq`), the child is
 * SIGKILLed at a seeded random moment, started again on the same data directory, round after round. After each
 * restart: every sub-device is ONLINE again (BatchGetDeviceState), its state read back through a sync service
 * (InvokeThingService over RRPC) holds the last set the platform saw answered 200, or the one still unanswered at
 * the kill; and the new process neither registered nor added topology again (its log lines). Then a sub-device
 * session the platform drops behind the gateway's back (`/ext/error` 520 on the gateway's next publish for it) is
 * logged in again, and sets reach the sub-device afterwards.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as $Iot from '@alicloud/iot20180120';
import { createIotClient, longCallRuntime } from '../simulator/sdk-client';
import type { CloudSimulator } from '../simulator/cloud-simulator';
import { waitFor } from './helpers/brokers';
import { prng } from './helpers/prng';
import { spawnAgentChild, type AgentChild } from './helpers/agent-child';
import { DEVICE } from './agent-support';
import { ID, startGatewaySimulator } from './agent-e2e-support';

const REPO = resolve(__dirname, '..');
const GW_TSL = join(REPO, 'simulator', 'tsl', 'example-gateway.json');
const ROUNDS = Number(process.env.GATEWAY_KILL9_ROUNDS ?? 8);
const SUB_PK = 'a1SubKill9';
const SUB_SECRET = '5e2d8c1a9b7f4e3d2c1b0a9f8e7d6c5b';
const NAMES = ['meter-01', 'meter-02', 'meter-03', 'meter-04', 'meter-05', 'meter-06'];
/** These two have no secret in the agent's config: `thing.sub.register` hands it out on the first start. */
const REGISTERED = new Set(['meter-05', 'meter-06']);
const PROPS = ['Seq', 'SetPoint', 'Mode'] as const;
const sub = (deviceName: string) => ({ productKey: SUB_PK, deviceName });

type Values = Record<(typeof PROPS)[number], number>;

/**
 * The sub-device product: the example sensor with an integer `Seq` (each set carries a new one, so a lost or stale
 * set shows) and a sync service `ReadBack` that answers the stored values.
 */
function writeTsl(file: string): void {
  const tsl = JSON.parse(readFileSync(join(REPO, 'simulator', 'tsl', 'example-sensor.json'), 'utf8')) as {
    profile: Record<string, string>;
    properties: Record<string, unknown>[];
    services: { identifier: string; inputData: unknown[]; outputData: unknown[] }[];
  };
  const seq = { identifier: 'Seq', name: 'Sequence', accessMode: 'rw', required: false, dataType: { type: 'int', specs: { min: '0', max: '2147483647', step: '1' } } };
  tsl.profile.productKey = SUB_PK;
  tsl.properties.push(seq);
  const set = tsl.services.find((s) => s.identifier === 'set');
  const get = tsl.services.find((s) => s.identifier === 'get');
  set?.inputData.push({ identifier: seq.identifier, name: seq.name, dataType: seq.dataType });
  get?.inputData.push('Seq');
  get?.outputData.push({ identifier: seq.identifier, name: seq.name, dataType: seq.dataType });
  const out = PROPS.map((id) => {
    const p = tsl.properties.find((q) => q.identifier === id) as { identifier: string; name: string; dataType: unknown };
    return { identifier: p.identifier, name: p.name, dataType: p.dataType };
  });
  tsl.services.push({ identifier: 'ReadBack', name: 'Read back', required: false, callType: 'sync', method: 'thing.service.ReadBack', inputData: [], outputData: out } as never);
  writeFileSync(file, JSON.stringify(tsl));
}

/**
 * The driver plugin, a CommonJS module in the test's folder: sets go to `ctx.state` under `{pk}/{dn}/{property}`
 * in one atomic write whose promise resolves once durable (the 200 waits for it); `ReadBack` answers them; a message
 * on the gateway's custom topic `poke` makes it post a reading for the sub-device it names (the gateway's next
 * publish for that sub-device).
 */
const PLUGIN_SOURCE = `'use strict';
const PROPS = ${JSON.stringify(PROPS)};
const DEFAULTS = { Seq: 0, SetPoint: 5, Mode: 0 };
module.exports = {
  name: 'kill9-meters',
  setup(ctx) {
    const key = (d, id) => d.productKey + '/' + d.deviceName + '/' + id;
    return {
      subDevices: {
        products: [${JSON.stringify(SUB_PK)}],
        properties: {
          ids: PROPS,
          apply: (values, call) => ctx.state.put(Object.fromEntries(Object.entries(values).map(([id, v]) => [key(call.device, id), v]))),
        },
        onStateChange: (d) => ctx.logger.info({ device: d.productKey + '/' + d.deviceName, state: d.state }, 'driver told'),
        services: {
          ReadBack: (_input, call) => Object.fromEntries(PROPS.map((id) => [id, ctx.state.get(key(call.device, id)) ?? DEFAULTS[id]])),
        },
      },
      customTopics: {
        poke: (msg) => {
          const device = { productKey: ${JSON.stringify(SUB_PK)}, deviceName: msg.payload.toString() };
          ctx.gateway.upstream(device).postProperties({ Temperature: 21.5 }, { timeoutMs: 3000 }).catch(() => undefined);
        },
      },
    };
  },
};
`;

interface SetRequest {
  id: string;
  device: string;
  values: Values;
}

describe.each(['embedded', 'managed'] as const)('gateway under kill -9 (%s broker)', (mode) => {
  let sim: CloudSimulator;
  let iot: ReturnType<typeof createIotClient>;
  let dir: string;
  let config: string;
  /** The running child (the last round's stays up for the lost-session test), and its log lines. */
  let child: AgentChild | undefined;
  let lines: Record<string, unknown>[] = [];
  /** Every set reply the platform saw: message id → code. */
  const replies = new Map<string, number>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `gateway-kill9-${mode}-`));
    const tsl = join(dir, 'meter.tsl.json');
    writeTsl(tsl);
    let httpUrl: string;
    let mqttUrl: string;
    ({ sim, httpUrl, mqttUrl } = await startGatewaySimulator(mode, NAMES, { productKey: SUB_PK, tsl, secret: SUB_SECRET, dynamicRegistration: true }));
    iot = createIotClient(httpUrl);
    sim.on('deviceReply', (r) => {
      if (r.kind === 'propertySetReply' && r.id !== undefined && r.code !== undefined && !replies.has(r.id)) replies.set(r.id, r.code);
    });
    const plugin = join(dir, 'meter-driver.js');
    writeFileSync(plugin, PLUGIN_SOURCE);
    config = join(dir, 'agent.json');
    writeFileSync(
      config,
      JSON.stringify({
        device: { ...ID, secret: DEVICE.secret },
        broker: { url: mqttUrl, protocolVersion: mode === 'managed' ? 5 : 4, reconnect: { initialMs: 100, maxMs: 500, stableMs: 1000 }, connectTimeoutMs: 3000 },
        thingModel: { path: GW_TSL },
        dataDir: join(dir, 'data'),
        log: { level: process.env.GATEWAY_KILL9_DEBUG ?? 'info' },
        postAfterSet: { enabled: false },
        gateway: { dynamicRegistration: true, retry: { initialMs: 200, maxMs: 1000 }, products: { [SUB_PK]: { path: tsl } } },
        subDevices: NAMES.map((deviceName) => ({ ...sub(deviceName), ...(REGISTERED.has(deviceName) ? {} : { secret: SUB_SECRET }) })),
        handlers: [{ module: plugin }],
      }),
    );
  });

  afterAll(async () => {
    if (child) {
      child.kill('SIGTERM');
      const exit = await child.exited;
      expect({ code: exit.code, stderr: exit.stderr }).toEqual({ code: 0, stderr: '' });
    }
    await sim?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const start = (): AgentChild => {
    lines = [];
    const own = lines;
    return spawnAgentChild(config, {
      onLine: (line) => {
        if (process.env.GATEWAY_KILL9_DEBUG) process.stderr.write(`child: ${line}\n`);
        if (line.startsWith('{')) own.push(JSON.parse(line) as Record<string, unknown>);
      },
    });
  };
  const logged = (msg: string) => lines.filter((l) => l.msg === msg);

  const states = async () => {
    const res = await iot.batchGetDeviceState(new $Iot.BatchGetDeviceStateRequest({ productKey: SUB_PK, deviceName: NAMES }));
    return res.body.deviceStatusList?.deviceStatus?.map((d) => d.status) ?? [];
  };
  /** The owner of a sub-device hears `online` once its subscriptions are in place; traffic sent earlier is refused (520) or finds no subscription. */
  const agentOnline = () => {
    const last = new Map(logged('driver told').map((l) => [l.device, l.state]));
    return NAMES.every((n) => last.get(`${SUB_PK}/${n}`) === 'online');
  };
  const allOnline = async () => agentOnline() && (await states()).filter((s) => s === 'ONLINE').length === NAMES.length;

  const readBack = async (deviceName: string): Promise<Values> => {
    const res = await iot.invokeThingServiceWithOptions(new $Iot.InvokeThingServiceRequest({ ...sub(deviceName), identifier: 'ReadBack', args: '{}' }), longCallRuntime());
    if (!res.body.success) throw new Error(`ReadBack on ${deviceName}: ${res.body.code} ${res.body.errorMessage}`);
    return JSON.parse(res.body.data?.result ?? '{}') as Values;
  };

  /** Sends one set; undefined when the platform refused it as offline (the gateway was killed); anything else fails. */
  const send = async (deviceName: string, values: Values): Promise<SetRequest | undefined> => {
    const res = await iot.setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...sub(deviceName), items: JSON.stringify(values) }));
    const id = res.body.data?.messageId;
    if (res.body.success && id) return { id, device: deviceName, values };
    if (res.body.code === 'iot.device.DeviceOffline') return undefined;
    throw new Error(`SetDeviceProperty to ${deviceName}: ${res.body.code} ${res.body.errorMessage}`);
  };

  const same = (a: Values, b: Values) => PROPS.every((p) => a[p] === b[p]);

  test(`${ROUNDS} rounds of SIGKILL while SetDeviceProperty streams to the sub-devices: every set answered 200 is in the restarted agent's state`, async () => {
    const seed = Number(process.env.GATEWAY_KILL9_SEED ?? Date.now() % 1_000_000);
    const rand = prng(seed);
    process.stdout.write(`gateway kill -9 (${mode}): seed ${seed}\n`);
    /** Per sub-device: the state it verifiably has (the last set answered 200, or what was read back), and the set in flight at the kill. */
    const known = new Map<string, Values>(NAMES.map((n) => [n, { Seq: 0, SetPoint: 5, Mode: 0 }]));
    const open = new Map<string, SetRequest>();
    let seq = 0;
    const counts = { rounds: ROUNDS, sets: 0, answered: 0, nonOk: 0, openAtKill: 0, openApplied: 0, openAnsweredAfterRestart: 0, checked: 0 };
    const failures: string[] = [];
    const kills: number[] = [];
    const started = Date.now();

    for (let round = 0; round <= ROUNDS; round++) {
      child = start();
      await waitFor(allOnline, 30_000, `round ${round}: every sub-device online`);
      if (round === 0) {
        // The first start registers the two without a secret and adds the topology of all six.
        await waitFor(() => logged('sub-device topology added').length > 0, 5000, 'the topology added');
        expect(logged('sub-device registered; its secret is kept in the agent database').map((l) => l.device).sort()).toEqual([...REGISTERED].map((n) => `${SUB_PK}/${n}`).sort());
      } else {
        for (const name of NAMES) {
          const pending = open.get(name);
          // A set in flight at the kill may have been answered since (redelivered, or the reply left just before).
          if (pending && replies.get(pending.id) === 200) {
            known.set(name, pending.values);
            open.delete(name);
            counts.openAnsweredAfterRestart++;
          }
          const got = await readBack(name);
          const want = known.get(name)!;
          counts.checked++;
          if (pending && same(got, pending.values)) counts.openApplied++;
          else if (!same(got, want)) failures.push(`round ${round}: ${name} holds ${JSON.stringify(got)}, answered 200: ${JSON.stringify(want)}${pending ? `, unanswered at the kill: ${JSON.stringify(pending.values)}` : ''}`);
          known.set(name, got);
          open.delete(name);
        }
        const again = [...logged('sub-device topology added'), ...logged('sub-device registered; its secret is kept in the agent database')];
        expect({ round, again }).toEqual({ round, again: [] });
        const topo = await iot.getThingTopo(new $Iot.GetThingTopoRequest({ ...ID, pageNo: 1, pageSize: 50 }));
        expect(topo.body.data?.list?.deviceInfo?.map((d) => d.deviceName).sort()).toEqual(NAMES);
      }
      if (round === ROUNDS) break;

      // Stream: one set in flight per sub-device, the next sent once the last is answered, until the kill.
      let killed = false;
      const lane = async (name: string) => {
        while (!killed) {
          const values: Values = { Seq: ++seq, SetPoint: 5 + 0.5 * Math.floor(rand() * 61), Mode: Math.floor(rand() * 3) };
          const req = await send(name, values);
          if (!req) return;
          counts.sets++;
          // Sent: from here on it is in flight until its answer is seen, even when the kill comes first.
          open.set(name, req);
          await waitFor(() => killed || replies.has(req.id), 10_000, `the answer to set ${req.id}`);
          const code = replies.get(req.id);
          if (code === undefined) return;
          open.delete(name);
          if (code === 200) {
            counts.answered++;
            known.set(name, values);
          } else counts.nonOk++;
        }
      };
      const lanes = NAMES.map((name) => lane(name).catch((err: Error) => void failures.push(`round ${round}: ${err.message}`)));
      const delay = 100 + Math.floor(rand() * 700);
      kills.push(delay);
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      const exit = await child.exited;
      killed = true;
      child = undefined;
      expect({ round, signal: exit.signal, stderr: exit.stderr }).toEqual({ round, signal: 'SIGKILL', stderr: '' });
      await Promise.all(lanes);
      counts.openAtKill += open.size;
      // The platform saw the gateway go: its sub-devices are offline, so ONLINE after the restart is the new process's.
      await waitFor(async () => (await states()).every((s) => s === 'OFFLINE'), 10_000, `round ${round}: the sub-devices offline after the kill`);
    }
    process.stdout.write(`gateway kill -9 report (${mode}): ${JSON.stringify({ seed, kills, ...counts, seconds: Math.round((Date.now() - started) / 100) / 10 })}\n`);
    expect(failures).toEqual([]);
    expect(counts.nonOk).toBe(0);
    expect(counts.checked).toBe(ROUNDS * NAMES.length);
    // The rounds did stream: sets were answered in every round on average, for every sub-device.
    expect(counts.answered).toBeGreaterThan(ROUNDS * NAMES.length);
  }, 120_000);

  test('a sub-device session the platform lost is logged in again, and sets reach the sub-device afterwards', async () => {
    if (!child) child = start();
    await waitFor(allOnline, 30_000, 'every sub-device online');
    const name = 'meter-03';
    expect(sim.loseSubDeviceSession(SUB_PK, name)).toBe(true);
    // The platform answers for it at once: it is not logged in.
    const refused = await iot.setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...sub(name), items: JSON.stringify({ Mode: 1 }) }));
    expect(refused.body.success).toBe(false);
    expect(refused.body.code).toBe('iot.device.DeviceOffline');
    // The gateway publishes for it (the driver posts a reading): the platform answers /ext/error 520; managed
    // mosquitto refuses the publish itself (PUBACK 0x87), which the agent takes for the same news.
    const heard = () =>
      mode === 'embedded'
        ? logged('platform error notice about a sub-device').filter((l) => l.code === 520 && l.device === `${SUB_PK}/${name}`)
        : logged('the broker refused a publish for a sub-device (no session there); logging it in again').filter((l) => l.device === `${SUB_PK}/${name}`);
    expect(heard()).toEqual([]);
    await iot.pub(new $Iot.PubRequest({ productKey: ID.productKey, topicFullName: `/${ID.productKey}/${ID.deviceName}/user/poke`, messageContent: Buffer.from(name).toString('base64'), qos: 1 }));
    await waitFor(() => heard().length > 0, 10_000, `the agent to hear that ${name} has no session`);
    await waitFor(allOnline, 10_000, `${name} logged in again`);
    expect(sim.deviceStatus(SUB_PK, name).status).toBe('ONLINE');
    // The refused reading is not lost: managed mosquitto refused it (PUBACK 0x87) and the outbox kept it; the
    // embedded platform took it and dropped it (520), and the gateway queued it again. Either way it arrives.
    await waitFor(
      async () => {
        const s = await iot.queryDevicePropertyStatus(new $Iot.QueryDevicePropertyStatusRequest({ ...sub(name) }));
        return (s.body.data?.list?.propertyStatusInfo ?? []).some((p) => p.identifier === 'Temperature' && Number(p.value) === 21.5);
      },
      10_000,
      `the refused reading of ${name} at the platform`,
    );
    const values: Values = { Seq: 2_000_000_000, SetPoint: 22.5, Mode: 2 };
    const req = await send(name, values);
    expect(req).toBeDefined();
    await waitFor(() => replies.has(req!.id), 10_000, 'the answer to the set after the new login');
    expect(replies.get(req!.id)).toBe(200);
    expect(await readBack(name)).toEqual(values);
  }, 60_000);
});
