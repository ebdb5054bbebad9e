/**
 * `alink-agent doctor` end to end: real config files, Thing Models and data directories in temp folders, checked
 * against a running CloudSimulator whose embedded broker authenticates Alink CONNECTs.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile } from '../config/load';
import type { AgentConfigInput } from '../config/schema';
import { openAgentDb } from '../storage';
import type { CloudSimulator } from '../../simulator/cloud-simulator';
import { startSimulator, TSL_PATH } from '../../test/agent-e2e-support';
import { DEVICE } from '../../test/agent-support';
import { freePort } from '../../test/helpers/brokers';
import { runDoctor } from '.';

const { productKey: PK, deviceName: DN, secret: SECRET } = DEVICE;
const SECRET_ENV = 'ALINK_DOCTOR_TEST_SECRET';

let sim: CloudSimulator;
let mqttUrl: string;
const dirs: string[] = [];

beforeAll(async () => {
  ({ sim, mqttUrl } = await startSimulator());
});

afterAll(async () => {
  await sim.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A string as a literal part of a RegExp. */
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

type Tsl = { profile: { productKey: string }; properties: { dataType: { type: string; specs: Record<string, unknown> } }[] };

interface Setup {
  dir: string;
  configPath: string;
  dataDir: string;
}

/** A temp folder with a copy of the TSL (changed by `editTsl`) and a config (mode 0600) pointing at the simulator. */
function setup(edit: (c: AgentConfigInput & Record<string, unknown>) => void = () => undefined, editTsl: (t: Tsl) => void = () => undefined): Setup {
  const dir = mkdtempSync(join(tmpdir(), 'alink-doctor-'));
  dirs.push(dir);
  const tsl = JSON.parse(readFileSync(TSL_PATH, 'utf8')) as Tsl;
  editTsl(tsl);
  writeFileSync(join(dir, 'tsl.json'), JSON.stringify(tsl));
  const config = {
    device: { productKey: PK, deviceName: DN, secretEnv: SECRET_ENV },
    broker: { url: mqttUrl, signMethod: 'hmacsha256' },
    thingModel: { path: 'tsl.json' },
    dataDir: 'data',
  } as AgentConfigInput & Record<string, unknown>;
  edit(config);
  const configPath = join(dir, 'agent.config.json');
  writeFileSync(configPath, JSON.stringify(config), { mode: 0o600 });
  return { dir, configPath, dataDir: join(dir, 'data') };
}

interface Run {
  code: number;
  lines: string[];
  stderr: string;
  /** The line of one check (the first, when a check printed several). */
  line(check: string): string;
}

async function doctor(argv: string[], env: NodeJS.ProcessEnv = { [SECRET_ENV]: SECRET }, connectTimeoutMs = 3000): Promise<Run> {
  let out = '';
  let err = '';
  const code = await runDoctor(argv, { stdout: (s) => (out += s), stderr: (s) => (err += s) }, { env, connectTimeoutMs });
  // Whatever happened, the secret never reaches the output.
  expect(out + err).not.toContain(SECRET);
  const lines = out.split('\n').filter(Boolean);
  return {
    code,
    lines,
    stderr: err,
    line: (check) => lines.find((l) => l.slice(5).startsWith(`${check}: `)) ?? `(no ${check} line in:\n${out})`,
  };
}

/** Collects the simulator's presence events for gw-001 while `fn` runs. */
async function presence(fn: () => Promise<Run>): Promise<{ run: Run; online: string[]; offline: boolean[] }> {
  const online: string[] = [];
  const offline: boolean[] = [];
  const on = (d: { deviceName: string; clientId?: string }) => d.deviceName === DN && online.push(d.clientId ?? '');
  const off = (d: { deviceName: string; graceful: boolean }) => d.deviceName === DN && offline.push(d.graceful);
  sim.on('deviceOnline', on);
  sim.on('deviceOffline', off);
  try {
    const run = await fn();
    // The broker's side of the DISCONNECT may trail the doctor's return by a moment; bounded wait.
    for (let i = 0; i < 50 && online.length > offline.length; i++) await new Promise((r) => setTimeout(r, 20));
    return { run, online, offline };
  } finally {
    sim.off('deviceOnline', on);
    sim.off('deviceOffline', off);
  }
}

describe('alink-agent doctor, good setups', () => {
  it('passes every check, logs in once with the Alink credentials and disconnects cleanly', async () => {
    const s = setup();
    // An existing outbox database made by the real outbox code.
    openAgentDb({ file: join(s.dataDir, 'agent.db') }).close();
    const { run, online, offline } = await presence(() => doctor(['--config', s.configPath]));

    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.lines).toEqual([
      `ok   config: ${s.configPath} valid (device ${PK}/${DN}, secret from environment variable ${SECRET_ENV})`,
      `ok   tsl: ${join(s.dir, 'tsl.json')} compiles (product ${PK}, 19 properties, 4 services, 3 events)`,
      'skip sub-devices: none configured',
      expect.stringMatching(new RegExp(`^ok   data dir: ${esc(s.dataDir)} is a directory .* can write; [0-9.]+ [GMK]iB free; agent\\.db \\([0-9.]+ [GMK]iB\\) readable and writable`)),
      'skip ca file: not used: broker.url is mqtt:// (no TLS)',
      expect.stringMatching(/^ok {3}broker: 127\.0\.0\.1:\d+ reachable over TCP in \d+ ms$/),
      `ok   credentials: CONNACK accepted ${PK}/${DN} (MQTT 3.1.1, hmacsha256, securemode=3); disconnected`,
      expect.stringMatching(/^ok {3}clock: system clock (behind|ahead of) the platform by \d+ ms$/),
    ]);
    expect(online).toHaveLength(1);
    expect(online[0]).toMatch(new RegExp(`^${PK}\\.${DN}\\|securemode=3,signmethod=hmacsha256,timestamp=\\d+\\|$`));
    expect(offline).toEqual([true]);
    // The write probe is gone; the database is untouched.
    expect(readdirSync(s.dataDir).filter((f) => !f.startsWith('agent.db'))).toEqual([]);
  });

  it('creates a missing data dir only to probe it, then removes every folder it made', async () => {
    const s = setup((c) => {
      c.dataDir = 'state/alink/data';
    });
    const run = await doctor(['--config', s.configPath]);
    expect(run.code).toBe(0);
    expect(run.line('data dir')).toMatch(/^ok {3}data dir: .*state\/alink\/data does not exist yet; .* can create it and write in it; .* free; no agent\.db yet/);
    expect(existsSync(join(s.dir, 'state'))).toBe(false);
  });

  it('signs with the configured method and accepts --config=FILE', async () => {
    const s = setup((c) => {
      c.broker.signMethod = 'hmacmd5';
      c.device = { productKey: PK, deviceName: DN, secret: SECRET, clientId: 'doctor-cid' };
    });
    const { run, online } = await presence(() => doctor([`--config=${s.configPath}`], {}));
    expect(run.code).toBe(0);
    expect(run.line('config')).toBe(`ok   config: ${s.configPath} valid (device ${PK}/${DN}, secret inline in the file)`);
    expect(run.line('credentials')).toBe(`ok   credentials: CONNACK accepted ${PK}/${DN} (MQTT 3.1.1, hmacmd5, securemode=3); disconnected`);
    expect(online[0]).toMatch(/^doctor-cid\|securemode=3,signmethod=hmacmd5,timestamp=\d+\|$/);
  });

  it('warns when the file holding the secret is readable by every user', async () => {
    const s = setup((c) => {
      c.device = { productKey: PK, deviceName: DN, secretFile: 'device.secret' };
    });
    writeFileSync(join(s.dir, 'device.secret'), `${SECRET}\n`, { mode: 0o644 });
    const run = await doctor(['--config', s.configPath], {});
    expect(run.code).toBe(0);
    expect(run.line('config')).toBe(
      `warn config: ${s.configPath} valid (device ${PK}/${DN}, secret from device.secret), but ${join(s.dir, 'device.secret')} holds the device secret and every user can read it (mode 0644): chmod o-r it`,
    );
    expect(run.line('credentials')).toMatch(/^ok {3}credentials: CONNACK accepted/);
  });
});

describe('alink-agent doctor, broken setups', () => {
  it('a bad config key fails with the message `run` prints, and the checks that need a config are skipped', async () => {
    const s = setup((c) => {
      c.broker.keepalive = 10;
    });
    const run = await doctor(['--config', s.configPath]);
    expect(run.code).toBe(1);
    let loaderMessage = '';
    try {
      loadConfigFile(s.configPath, { env: { [SECRET_ENV]: SECRET } });
    } catch (e) {
      loaderMessage = (e as Error).message;
    }
    expect(run.lines[0]).toBe(`FAIL config: ${loaderMessage}`);
    expect(run.lines).toEqual([
      `FAIL config: ${s.configPath}: broker.keepalive: expected integer in [30, 1200], received 10`,
      'skip tsl: needs a valid configuration',
      'skip sub-devices: needs a valid configuration',
      'skip data dir: needs a valid configuration',
      'skip ca file: needs a valid configuration',
      'skip broker: needs a valid configuration',
      'skip credentials: needs a valid configuration',
    ]);
  });

  it('an unknown key is named with the keys that are allowed', async () => {
    const s = setup((c) => {
      c.brokr = { url: 'mqtt://127.0.0.1:1883' };
    });
    const run = await doctor(['--config', s.configPath]);
    expect(run.code).toBe(1);
    expect(run.lines[0]).toMatch(new RegExp(`^FAIL config: ${esc(s.configPath)}: brokr: expected a known key of the top level \\(.*broker.*\\), received an unknown key$`));
  });

  it('a missing secret variable fails config; every check that does not log in still runs', async () => {
    const s = setup();
    const { run, online } = await presence(() => doctor(['--config', s.configPath], {}));
    expect(run.code).toBe(1);
    expect(run.lines).toEqual([
      `FAIL config: ${s.configPath}: device.secretEnv: expected the name of a set, non-empty environment variable, received "${SECRET_ENV}" (not set)`,
      expect.stringMatching(/^ok {3}tsl: /),
      'skip sub-devices: none configured',
      expect.stringMatching(/^ok {3}data dir: /),
      'skip ca file: not used: broker.url is mqtt:// (no TLS)',
      expect.stringMatching(/^ok {3}broker: /),
      'skip credentials: the device secret did not resolve (see config)',
    ]);
    expect(online).toEqual([]);
  });

  it('a secret problem does not hide another config error behind it', async () => {
    const s = setup((c) => {
      c.broker.url = 'http://127.0.0.1:1883';
    });
    const run = await doctor(['--config', s.configPath], {});
    expect(run.code).toBe(1);
    expect(run.lines.slice(0, 2)).toEqual([
      expect.stringMatching(/^FAIL config: .*device\.secretEnv: .*\(not set\)$/),
      `FAIL config: ${s.configPath}: broker.url: expected an mqtt:// or mqtts:// URL such as "mqtt://127.0.0.1:1883", received "http://127.0.0.1:1883"`,
    ]);
    expect(run.lines.slice(2).every((l) => l.startsWith('skip '))).toBe(true);
  });

  it('a broken TSL gives one FAIL line per problem; the other checks pass', async () => {
    const s = setup(undefined, (t) => {
      (t.properties[2] as Tsl['properties'][number]).dataType.specs.max = '-5';
      (t.properties[3] as Tsl['properties'][number]).dataType.type = 'txt';
    });
    const run = await doctor(['--config', s.configPath]);
    expect(run.code).toBe(1);
    expect(run.lines.filter((l) => l.includes(' tsl: '))).toEqual([
      'FAIL tsl: properties[2].dataType.specs.max: expected a number >= min (0), received "-5"',
      'FAIL tsl: properties[3].dataType.type: expected one of "int", "float", "double", "text", "date", "bool", "enum", "struct", "array", received "txt"',
    ]);
    expect(run.line('credentials')).toMatch(/^ok {3}credentials: CONNACK accepted/);
  });

  it('a TSL of another product is a FAIL naming both product keys', async () => {
    const s = setup(undefined, (t) => {
      t.profile.productKey = 'a1OtherPk9';
    });
    const run = await doctor(['--config', s.configPath]);
    expect(run.code).toBe(1);
    expect(run.line('tsl')).toBe(`FAIL tsl: ${join(s.dir, 'tsl.json')} is the Thing Model of product "a1OtherPk9", expected device.productKey "${PK}"`);
  });

  it('a missing TSL file is named', async () => {
    const s = setup((c) => {
      c.thingModel.path = 'nowhere.json';
    });
    const run = await doctor(['--config', s.configPath]);
    expect(run.code).toBe(1);
    expect(run.line('tsl')).toBe(`FAIL tsl: (file): expected a readable file at ${join(s.dir, 'nowhere.json')}, received ENOENT`);
  });

  // Root ignores permission bits, so each case fails for a reason no user can get past.
  it.each([
    ['an existing regular file', 'plain', (p: string) => `${esc(p)}: expected a directory \\(dataDir\\), received a regular file`],
    ['a path under a regular file', 'plain/data', (p: string) => `${esc(p)}: expected a directory \\(dataDir\\), received a path through a regular file \\(ENOTDIR\\)`],
    ['a path in /proc', '/proc/alink-doctor-test/data', (p: string) => `${esc(p)} does not exist and .* cannot create it \\(ENOENT\\)`],
  ])('a data dir at %s fails', async (_what, rel, expected) => {
    const s = setup((c) => {
      c.dataDir = rel;
    });
    writeFileSync(join(s.dir, 'plain'), 'not a directory');
    const run = await doctor(['--config', s.configPath]);
    expect(run.code).toBe(1);
    expect(run.line('data dir')).toMatch(new RegExp(`^FAIL data dir: ${expected(rel.startsWith('/') ? rel : join(s.dir, rel))}$`));
    expect(run.line('credentials')).toMatch(/^ok {3}credentials: /);
  });

  it('an agent.db that is not a file fails; one that is not SQLite warns (the agent moves it aside)', async () => {
    const s = setup();
    mkdirSync(join(s.dataDir, 'agent.db'), { recursive: true });
    const bad = await doctor(['--config', s.configPath]);
    expect(bad.code).toBe(1);
    expect(bad.line('data dir')).toBe(`FAIL data dir: ${join(s.dataDir, 'agent.db')}: expected the outbox's SQLite file, received a directory`);

    rmSync(join(s.dataDir, 'agent.db'), { recursive: true });
    writeFileSync(join(s.dataDir, 'agent.db'), 'this is not a database at all');
    const odd = await doctor(['--config', s.configPath]);
    expect(odd.code).toBe(0);
    expect(odd.line('data dir')).toBe(`warn data dir: ${join(s.dataDir, 'agent.db')} is not a SQLite database: the agent will move it aside and start an empty outbox`);
  });

  it('a broker nobody listens on is named with ECONNREFUSED, and the login is skipped', async () => {
    const port = await freePort();
    const s = setup((c) => {
      c.broker.url = `mqtt://127.0.0.1:${port}`;
    });
    const run = await doctor(['--config', s.configPath]);
    expect(run.code).toBe(1);
    expect(run.line('broker')).toBe(`FAIL broker: 127.0.0.1:${port} refused the connection (ECONNREFUSED): nothing listens there; check broker.url`);
    expect(run.line('credentials')).toBe('skip credentials: the broker is not reachable (see broker)');
  });

  it('a wrong secret is refused by the platform (CONNACK 4)', async () => {
    const s = setup();
    const wrong = 'ffffffffffffffffffffffffffffffff';
    const run = await doctor(['--config', s.configPath], { [SECRET_ENV]: wrong });
    expect(run.code).toBe(1);
    expect(run.line('broker')).toMatch(/^ok {3}broker: /);
    expect(run.line('credentials')).toBe(
      'FAIL credentials: the platform refused the device credentials (CONNACK 4): check device.productKey/deviceName/secret and broker.signMethod',
    );
    expect(run.lines.join('\n')).not.toContain(wrong);
  });

  it('a refusal other than credentials carries its reason and a hint (MQTT 5 against a 3.1.1 broker)', async () => {
    const s = setup((c) => {
      c.broker.protocolVersion = 5;
    });
    const run = await doctor(['--config', s.configPath]);
    expect(run.code).toBe(1);
    expect(run.line('credentials')).toMatch(/^FAIL credentials: the broker refused the connection \(CONNACK 0x1: Unacceptable protocol version\): check broker\.protocolVersion$/);
  });

  it('a listener that never answers CONNECT times out within the bound', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((sock) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    try {
      const s = setup((c) => {
        c.broker.url = `mqtt://127.0.0.1:${port}`;
      });
      const started = Date.now();
      const run = await doctor(['--config', s.configPath], undefined, 1000);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(run.code).toBe(1);
      expect(run.line('broker')).toMatch(/^ok {3}broker: /);
      expect(run.line('credentials')).toBe(`FAIL credentials: no CONNACK from 127.0.0.1:${port} within 1000 ms (timeout): is it an MQTT broker?`);
    } finally {
      for (const sock of sockets) sock.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});

describe('alink-agent doctor, usage', () => {
  it.each([
    [['--config', 'agent.config.json', '--verbose'], 'unknown argument "--verbose"'],
    [['agent.config.json'], 'unknown argument "agent.config.json"'],
    [[], 'doctor needs --config FILE'],
    [['--config'], '--config needs a file path'],
    [['--config', 'a.json', '--config', 'b.json'], '--config given twice ("a.json", "b.json")'],
  ])('%j is a usage error (exit 2)', async (argv, message) => {
    const run = await doctor(argv);
    expect(run.code).toBe(2);
    expect(run.lines).toEqual([]);
    expect(run.stderr).toMatch(new RegExp(`^alink-agent doctor: ${esc(message)}\nUsage: alink-agent doctor --config FILE\n`));
  });

  it('--help prints the usage on stdout (exit 0)', async () => {
    const run = await doctor(['--help']);
    expect(run.code).toBe(0);
    expect(run.lines[0]).toBe('Usage: alink-agent doctor --config FILE');
  });

  it('a config file that does not exist is a FAIL (exit 1), not a usage error', async () => {
    const run = await doctor(['--config', join(tmpdir(), 'alink-doctor-no-such-dir', 'agent.config.json')]);
    expect(run.code).toBe(1);
    expect(run.lines[0]).toMatch(/^FAIL config: .*agent\.config\.json: expected a readable JSON file, received an error \(ENOENT\)$/);
  });
});
