/**
 * The session against real brokers: aedes (MQTT 3.1.1, with the platform's Alink login rules installed by the
 * test) and mosquitto (MQTT 5, child process, TLS with a CA made by openssl).
 */
import { connectAsync, MqttClient } from 'mqtt';
import { startAedes, startMosquitto, waitFor, freePort } from './helpers/brokers';
import { alinkAuth as installAlinkAuth, AlinkAuthOptions, captureLog, CapturedLog, DEVICE, makeOtherCa, makeTlsFiles, sleep } from './agent-support';
import { validateConfig, AgentConfig } from '../agent/config/load';
import { Session, SessionStateChange } from '../agent/session/session';
import { SessionError } from '../agent/session/errors';
import type { InboundMessage } from '../agent/transport';
import { deviceTopics } from '../thing-model/wire';
import { Outbox } from '../agent/outbox';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const topics = deviceTopics(DEVICE);

function config(broker: Record<string, unknown>, limits: Record<string, unknown> = {}): AgentConfig {
  return validateConfig({
    device: { ...DEVICE },
    broker: { reconnect: { initialMs: 100, maxMs: 1000, stableMs: 1500 }, connectTimeoutMs: 3000, ...broker },
    thingModel: { path: 'unused.json' },
    limits: { upstream: limits },
  });
}

interface Harness {
  session: Session;
  log: CapturedLog;
  states: SessionStateChange[];
  inbox: InboundMessage[];
}

const open: Session[] = [];
const clients: MqttClient[] = [];

function makeSession(cfg: AgentConfig, opts: { random?: () => number; durable?: Outbox } = {}): Harness {
  const log = captureLog();
  const session = new Session({
    identity: cfg.device,
    secret: cfg.device.secret,
    broker: cfg.broker,
    limits: cfg.limits.upstream,
    logger: log.logger,
    ...opts,
  });
  const states: SessionStateChange[] = [];
  const inbox: InboundMessage[] = [];
  session.on('state', (s) => states.push(s));
  session.onMessage((m) => {
    inbox.push(m);
  });
  open.push(session);
  return { session, log, states, inbox };
}

async function cloudClient(url: string, protocolVersion: 4 | 5 = 4): Promise<MqttClient> {
  const c = await connectAsync(url, { protocolVersion, reconnectPeriod: 0, clientId: `cloud-${Math.random().toString(16).slice(2)}` });
  clients.push(c);
  return c;
}

const allLogs: CapturedLog[] = [];
/** Every CONNECT the brokers saw, to check below that no password reached a log line. */
const allConnects: ReturnType<typeof installAlinkAuth>[] = [];
function alinkAuth(aedes: Parameters<typeof installAlinkAuth>[0], opts?: AlinkAuthOptions) {
  const seen = installAlinkAuth(aedes, opts);
  allConnects.push(seen);
  return seen;
}
function track(h: Harness): Harness {
  allLogs.push(h.log);
  return h;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.stop(500)));
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
});

afterAll(() => {
  // Whatever happened above, no log line carried the secret or a password.
  const passwords = allConnects.flat().map((c) => c.password);
  expect(passwords.length).toBeGreaterThan(10);
  for (const l of allLogs) {
    const text = l.text();
    expect(text).not.toContain(DEVICE.secret);
    for (const p of passwords) expect(text).not.toContain(p);
  }
});

describe('session against aedes (MQTT 3.1.1, Alink login)', () => {
  it.each(['hmacsha256', 'hmacsha1', 'hmacmd5'] as const)('connects with %s, subscribes, and receives', async (signMethod) => {
    const seenBy = new Map<unknown, ReturnType<typeof alinkAuth>>();
    const broker = await startAedes({ setup: (a) => void seenBy.set(a, alinkAuth(a)) });
    try {
      const h = track(makeSession(config({ url: broker.url, signMethod })));
      await h.session.subscribe([{ topic: topics.propertySet, qos: 1 }]);
      const outcome = await h.session.connect();
      expect(outcome).toEqual({ connected: true });
      const seen = seenBy.get(broker.aedes()) ?? [];
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({ valid: true, signMethod, username: 'gw-001&a1GwDemo01' });
      expect(seen[0]?.clientId).toMatch(new RegExp(`^a1GwDemo01\\.gw-001\\|securemode=3,signmethod=${signMethod},timestamp=\\d{13}\\|$`));
      const cloud = await cloudClient(broker.url);
      await cloud.publishAsync(topics.propertySet, '{"id":"1","params":{}}', { qos: 1 });
      await waitFor(() => h.inbox.length === 1, 3000, 'the property set');
      expect(h.inbox[0]).toMatchObject({ topic: topics.propertySet, qos: 1 });
      expect(h.inbox[0]?.payload.toString()).toBe('{"id":"1","params":{}}');
    } finally {
      await Promise.all(open.splice(0).map((s) => s.stop(500)));
      await broker.stop();
    }
  });

  it('signs a fresh timestamp on every reconnect, each valid, and re-subscribes without a session', async () => {
    let seen: ReturnType<typeof alinkAuth> = [];
    const subscribes: string[][] = [];
    const broker = await startAedes({
      setup: (a) => {
        seen = alinkAuth(a);
        a.on('subscribe', (subs) => subscribes.push(subs.map((s) => s.topic)));
      },
    });
    try {
      const h = track(makeSession(config({ url: broker.url })));
      await h.session.subscribe([{ topic: topics.propertySet, qos: 1 }]);
      await h.session.connect();
      // The server drops the connection (what a load balancer or the platform's kick does).
      for (const c of Object.values((broker.aedes() as unknown as { clients: Record<string, { close(): void }> }).clients)) c.close();
      await waitFor(() => seen.length === 2 && h.session.connected, 5000, 'the reconnect');
      expect(seen.every((s) => s.valid)).toBe(true);
      expect(seen[0]?.timestamp).not.toBe(seen[1]?.timestamp);
      expect(seen[0]?.password).not.toBe(seen[1]?.password);
      expect(Number(seen[1]?.timestamp)).toBeGreaterThan(Number(seen[0]?.timestamp));
      await waitFor(() => subscribes.length === 2, 3000, 'the second SUBSCRIBE');
      expect(subscribes).toEqual([[topics.propertySet], [topics.propertySet]]);
      expect(h.states.map((s) => s.state)).toEqual(['connecting', 'connected', 'reconnecting', 'connected']);
      expect(h.states[2]?.cause).toBe('network');
    } finally {
      await Promise.all(open.splice(0).map((s) => s.stop(500)));
      await broker.stop();
    }
  });

  it('on refused credentials backs off with growing delays and logs the cause once', async () => {
    let seen: ReturnType<typeof alinkAuth> = [];
    const broker = await startAedes({ setup: (a) => void (seen = alinkAuth(a, { refuseWith: 4 })) });
    try {
      // The draw pinned near 1: each delay is its ceiling, 100, 200, 400, 800 ms.
      const h = track(makeSession(config({ url: broker.url, reconnect: { initialMs: 100, maxMs: 800, stableMs: 1000 } }), { random: () => 0.999 }));
      const outcome = await h.session.connect();
      expect(outcome.connected).toBe(false);
      expect(outcome.cause).toBe('auth');
      await waitFor(() => seen.length >= 5, 4000, 'five attempts');
      await h.session.stop(200);
      const gaps = seen.slice(1, 5).map((s, i) => s.at - (seen[i] as { at: number }).at);
      // Each gap roughly doubles (timer jitter on a loaded machine allowed for).
      expect(gaps[0]).toBeGreaterThanOrEqual(90);
      for (let i = 1; i < gaps.length; i++) expect(gaps[i] as number).toBeGreaterThan((gaps[i - 1] as number) * 1.4);
      expect(gaps[3]).toBeLessThan(800 + 400);
      const authLines = h.log.lines().filter((l) => l.cause === 'auth' && (l.level as number) >= 40);
      expect(authLines).toHaveLength(1);
      expect(authLines[0]?.msg).toContain('refused the credentials');
      expect(h.session.lastError?.message).toMatch(/Bad username or password/);
    } finally {
      await broker.stop();
    }
  });

  it('detects a duplicate login (kicked soon after CONNACK, repeatedly), logs it once and backs off', async () => {
    let seen: ReturnType<typeof alinkAuth> = [];
    const broker = await startAedes({ setup: (a) => void (seen = alinkAuth(a, { kickDuplicates: true })) });
    let twin: MqttClient | undefined;
    try {
      const cfg = config({ url: broker.url, reconnect: { initialMs: 100, maxMs: 3000, stableMs: 2000 } });
      const h = track(makeSession(cfg, { random: () => 0.999 }));
      await h.session.connect();
      // Another device with the same certificate that reconnects every 150 ms, as the official SDK does every 1 s.
      const { buildCredentials } = await import('../thing-model/wire');
      const creds = () => buildCredentials({ ...DEVICE, deviceSecret: DEVICE.secret, signMethod: 'hmacsha1', secureMode: 3, timestamp: Date.now(), clientId: 'twin' });
      twin = await connectAsync(broker.url, { ...creds(), reconnectPeriod: 150 });
      twin.on('close', () => Object.assign(twin?.options ?? {}, creds()));
      await waitFor(() => h.states.filter((s) => s.cause === 'kicked').length >= 3, 8000, 'three kicks');
      const kicked = h.states.filter((s) => s.cause === 'kicked');
      const delays = kicked.map((s) => s.retryInMs as number);
      for (let i = 1; i < delays.length; i++) expect(delays[i] as number).toBeGreaterThan(delays[i - 1] as number);
      const lines = h.log.lines().filter((l) => l.cause === 'kicked' && (l.level as number) >= 40);
      expect(lines).toHaveLength(1);
      expect(lines[0]?.msg).toContain('duplicate login');
      expect(seen.every((s) => s.valid)).toBe(true);
    } finally {
      await twin?.endAsync(true);
      await Promise.all(open.splice(0).map((s) => s.stop(500)));
      await broker.stop();
    }
  });

  it('resubscribes after a broker restart and traffic resumes; the first attempt against a dead broker resolves', async () => {
    const port = await freePort();
    const h = track(makeSession(config({ url: `mqtt://127.0.0.1:${port}` })));
    await h.session.subscribe([{ topic: topics.serviceFilter, qos: 1 }]);
    // Nothing listens yet: the first attempt fails, connect() resolves, the session keeps trying.
    const first = await h.session.connect();
    expect(first).toMatchObject({ connected: false, cause: 'network' });
    const broker = await startAedes({ port, setup: (a) => void alinkAuth(a) });
    try {
      await waitFor(() => h.session.connected, 5000, 'the late connection');
      await broker.restart(100);
      await waitFor(() => h.states.filter((s) => s.state === 'connected').length === 2, 5000, 'the reconnect');
      const cloud = await cloudClient(broker.url);
      await cloud.publishAsync(topics.service('Reboot'), '{"id":"7"}', { qos: 1 });
      await waitFor(() => h.inbox.length === 1, 3000, 'the service call after the restart');
      const got = new Promise<Buffer>((resolve) => cloud.on('message', (_t, p) => resolve(p)));
      await cloud.subscribeAsync(topics.serviceReply('Reboot'), { qos: 1 });
      const receipt = await h.session.publish(topics.serviceReply('Reboot'), '{"id":"7","code":200,"data":{}}', { qos: 1 });
      await receipt.acked;
      expect((await got).toString()).toContain('"id":"7"');
    } finally {
      await Promise.all(open.splice(0).map((s) => s.stop(500)));
      await broker.stop();
    }
  });

  it('refuses a subscription the broker refuses, naming the topic', async () => {
    const broker = await startAedes({
      setup: (a) => {
        alinkAuth(a);
        a.authorizeSubscribe = (_c, sub, cb) => cb(null, sub.topic.includes('/forbidden') ? null : sub);
      },
    });
    try {
      const h = track(makeSession(config({ url: broker.url })));
      await h.session.subscribe([
        { topic: topics.propertySet, qos: 1 },
        { topic: '/a1GwDemo01/gw-001/user/forbidden', qos: 0 },
      ]);
      const err = await h.session.connect().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(SessionError);
      expect((err as SessionError).code).toBe('AGENT_SUBSCRIBE_REFUSED');
      expect((err as SessionError).message).toContain('/a1GwDemo01/gw-001/user/forbidden');
    } finally {
      await Promise.all(open.splice(0).map((s) => s.stop(500)));
      await broker.stop();
    }
  });

  it('enforces the upstream limits with typed errors; QoS 0 offline is refused, QoS 1 offline is queued', async () => {
    const port = await freePort();
    const h = track(makeSession(config({ url: `mqtt://127.0.0.1:${port}` }, { maxPayloadBytes: 64, maxMessagesPerSecond: 5 })));
    const codeOf = (p: Promise<unknown>) => p.then(() => 'accepted', (e: SessionError) => e.code);
    expect(await codeOf(h.session.publish(topics.propertyPost, 'x'.repeat(65), { qos: 1 }))).toBe('AGENT_PAYLOAD_TOO_LARGE');
    expect(await codeOf(h.session.publish(`/a1GwDemo01/gw-001/user/${'a'.repeat(110)}`, 'x', { qos: 1 }))).toBe('AGENT_TOPIC_TOO_LONG');
    expect(await codeOf(h.session.publish('/a1GwDemo01/gw-001/user/+', 'x', { qos: 1 }))).toBe('AGENT_TOPIC_INVALID');
    expect(await codeOf(h.session.publish(topics.propertyPost, 'x', { qos: 0 }))).toBe('AGENT_NOT_CONNECTED');
    // Queued while offline: accepted now, acknowledged once the broker is there.
    const queued = await h.session.publish(topics.propertyPost, '{"id":"9"}', { qos: 1 });
    const rate = await Promise.all(Array.from({ length: 6 }, () => codeOf(h.session.publish(topics.propertyPost, 'x', { qos: 1 }))));
    expect(rate.filter((c) => c === 'AGENT_RATE_LIMITED')).toHaveLength(2); // 5 per second, one already used above
    await h.session.connect();
    const broker = await startAedes({ port, setup: (a) => void alinkAuth(a) });
    try {
      const received: string[] = [];
      broker.aedes().on('publish', (p, c) => void (c && received.push(p.payload.toString())));
      await queued.acked;
      expect(received).toContain('{"id":"9"}');
      await h.session.stop(1000);
      expect(await codeOf(h.session.publish(topics.propertyPost, 'x', { qos: 1 }))).toBe('AGENT_SESSION_STOPPED');
    } finally {
      await broker.stop();
    }
  });
});

describe('session with the durable outbox under its publish', () => {
  it('keeps QoS 1 messages in SQLite while offline and sends them once connected; limits still apply first', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-session-outbox-'));
    const outbox = Outbox.open({ file: join(dir, 'agent.db') });
    const port = await freePort();
    try {
      const h = track(makeSession(config({ url: `mqtt://127.0.0.1:${port}` }, { maxPayloadBytes: 64 }), { durable: outbox }));
      await expect(h.session.publish(topics.propertyPost, 'x'.repeat(65), { qos: 1 })).rejects.toMatchObject({ code: 'AGENT_PAYLOAD_TOO_LARGE' });
      const receipt = await h.session.publish(topics.propertyPost, '{"id":"11"}', { qos: 1, messageClass: 'property' });
      expect(outbox.depth()).toBe(1);
      await h.session.connect();
      const broker = await startAedes({ port, setup: (a) => void alinkAuth(a) });
      try {
        await receipt.acked;
        expect(outbox.depth()).toBe(0);
      } finally {
        await h.session.stop(500);
        await broker.stop();
      }
    } finally {
      outbox.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('session and outbox on a reconnect without a session', () => {
  it('subscribes (SUBACK received) before the replayed window and the offline backlog go out; every post hears its reply', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-session-subfirst-'));
    // A window of 5: those are in MQTT.js's store when the link drops (its own re-send); the rest wait in SQLite.
    const outbox = Outbox.open({ file: join(dir, 'agent.db'), maxInflight: 5 });
    const port = await freePort();
    /** What the broker saw from the device, in order. */
    let events: string[] = [];
    let held = 0;
    let hold = true;
    const isDevice = (id: string | undefined) => !!id && !id.startsWith('cloud-');
    const setup = (a: import('aedes').default) => {
      alinkAuth(a);
      // The platform: a post_reply for every property post, dropped by the broker if nobody subscribes to it yet.
      a.authorizePublish = (client, packet, done) => {
        if (!isDevice(client?.id) || packet.topic !== topics.propertyPost) return done(null);
        if (hold) {
          // No PUBACK: the first connection's window stays in flight until the link drops.
          held++;
          return;
        }
        events.push('PUBLISH');
        done(null);
        const { id } = JSON.parse(packet.payload.toString()) as { id: string };
        a.publish({ cmd: 'publish', topic: topics.propertyPostReply, payload: Buffer.from(JSON.stringify({ id, code: 200, data: {} })), qos: 0, dup: false, retain: false }, () => undefined);
      };
      a.on('subscribe', (subs, client) => {
        if (isDevice(client?.id)) events.push(`SUBSCRIBE ${subs.map((x) => x.topic).join(',')}`);
      });
    };
    let broker = await startAedes({ port, setup });
    try {
      const h = track(makeSession(config({ url: broker.url }), { durable: outbox }));
      await h.session.subscribe([{ topic: topics.propertyPostReply, qos: 0 }]);
      await h.session.connect();
      const post = (i: number) => h.session.publish(topics.propertyPost, JSON.stringify({ id: String(i), params: {} }), { qos: 1, messageClass: 'property' });
      const receipts = await Promise.all(Array.from({ length: 5 }, (_, i) => post(i)));
      await waitFor(() => held === 5, 3000, 'the window in flight, without PUBACKs');
      await broker.stop();
      await waitFor(() => !h.session.connected, 3000, 'the session to notice');
      // The backlog: queued while offline, durable in SQLite only.
      receipts.push(...(await Promise.all(Array.from({ length: 20 }, (_, i) => post(5 + i)))));
      expect(outbox.depth()).toBe(25);
      events = [];
      hold = false;
      broker = await startAedes({ port, setup });
      await Promise.all(receipts.map((r) => r.acked));
      await waitFor(() => h.inbox.length >= 25, 5000, 'a reply for each of the 25 posts');
      expect(outbox.stats().replayedPackets).toBe(5);
      // The fresh broker has no session: the SUBSCRIBE comes first, then the 5 re-sent and the 20 stored posts.
      expect(events[0]).toBe(`SUBSCRIBE ${topics.propertyPostReply}`);
      expect(events.slice(1)).toEqual(Array.from({ length: 25 }, () => 'PUBLISH'));
      const ids = h.inbox.map((m) => (JSON.parse(m.payload.toString()) as { id: string }).id);
      expect(new Set(ids)).toEqual(new Set(Array.from({ length: 25 }, (_, i) => String(i))));
      expect(h.inbox.every((m) => m.topic === topics.propertyPostReply)).toBe(true);
      await h.session.stop(500);
    } finally {
      await broker.stop();
      outbox.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('session against mosquitto (MQTT 5)', () => {
  it('hands over MQTT 5 properties, resubscribes after a restart, and answers on the response topic', async () => {
    const broker = await startMosquitto();
    try {
      const h = track(makeSession(config({ url: broker.url, protocolVersion: 5 })));
      const req = '/a1GwDemo01/gw-001/user/get';
      await h.session.subscribe([{ topic: req, qos: 1 }]);
      expect(await h.session.connect()).toEqual({ connected: true });
      await broker.restart(100);
      await waitFor(() => h.states.filter((s) => s.state === 'connected').length === 2, 6000, 'the reconnect');
      const cloud = await cloudClient(broker.url, 5);
      const answers: { payload: string; correlation?: string }[] = [];
      cloud.on('message', (_t, p, packet) => answers.push({ payload: p.toString(), correlation: packet.properties?.correlationData?.toString() }));
      await cloud.subscribeAsync('/a1GwDemo01/gw-001/user/resp', { qos: 1 });
      h.session.onMessage(async (m) => {
        h.inbox.push(m);
        const rt = m.properties?.responseTopic;
        if (rt) await h.session.publish(rt, 'pong', { qos: 1, properties: { correlationData: m.properties?.correlationData as Buffer } });
      });
      await cloud.publishAsync(req, 'ping', {
        qos: 1,
        properties: { responseTopic: '/a1GwDemo01/gw-001/user/resp', correlationData: Buffer.from('corr-1'), userProperties: { trace: 'abc' } },
      });
      await waitFor(() => answers.length === 1, 4000, 'the answer');
      expect(answers[0]).toEqual({ payload: 'pong', correlation: 'corr-1' });
      expect(h.inbox[0]?.properties).toMatchObject({ responseTopic: '/a1GwDemo01/gw-001/user/resp', userProperties: { trace: 'abc' } });
    } finally {
      await Promise.all(open.splice(0).map((s) => s.stop(500)));
      await broker.stop();
    }
  });

  it('connects over TLS with the configured CA and refuses a broker its CA does not vouch for', async () => {
    const tls = makeTlsFiles();
    const broker = await startMosquitto({ tls: { certFile: tls.certFile, keyFile: tls.keyFile } });
    try {
      const good = track(makeSession(config({ url: broker.url, protocolVersion: 5, caFile: tls.caFile })));
      expect(await good.session.connect()).toEqual({ connected: true });
      const localhost = track(makeSession(config({ url: `mqtts://localhost:${broker.port}`, protocolVersion: 5, caFile: tls.caFile })));
      expect(await localhost.session.connect()).toEqual({ connected: true });
      const bad = track(makeSession(config({ url: broker.url, protocolVersion: 5, caFile: makeOtherCa(tls.dir) })));
      const outcome = await bad.session.connect();
      expect(outcome).toMatchObject({ connected: false, cause: 'tls' });
      await sleep(300);
      expect(bad.log.lines().filter((l) => l.cause === 'tls' && (l.level as number) >= 50)).toHaveLength(1);
    } finally {
      await Promise.all(open.splice(0).map((s) => s.stop(500)));
      await broker.stop();
    }
  });
});
