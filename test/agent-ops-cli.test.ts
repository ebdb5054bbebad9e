/**
 * The `alink-agent` command's operations entry points, in process: `doctor` is dispatched to agent/doctor (usage,
 * usage errors, and a real run against mosquitto) and listed in the usage text.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { main } from '../agent/cli/main';
import { DOCTOR_USAGE } from '../agent/doctor';
import { freePort, startMosquitto, type RunningBroker } from './helpers/brokers';
import { bufferIo, DEVICE } from './agent-support';

const TSL = resolve(__dirname, '..', 'simulator', 'tsl', 'example-gateway.json');

describe('alink-agent doctor', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agent-ops-cli-'));
  let broker: RunningBroker;

  beforeAll(async () => {
    broker = await startMosquitto();
  });

  afterAll(async () => {
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const writeConfig = (name: string, url: string): string => {
    const file = join(dir, `${name}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        device: { productKey: DEVICE.productKey, deviceName: DEVICE.deviceName, secret: DEVICE.secret },
        broker: { url, connectTimeoutMs: 2000 },
        thingModel: { path: TSL },
        dataDir: join(dir, `${name}-data`),
      }),
    );
    return file;
  };

  it('is listed in the usage text', async () => {
    const b = bufferIo();
    expect(await main(['--help'], b.io)).toBe(0);
    expect(b.out()).toContain('alink-agent doctor --config FILE');
  });

  it('prints its own usage for --help, and refuses a missing --config with exit 2', async () => {
    const help = bufferIo();
    expect(await main(['doctor', '--help'], help.io)).toBe(0);
    expect(help.out()).toBe(DOCTOR_USAGE);
    const bad = bufferIo();
    expect(await main(['doctor'], bad.io)).toBe(2);
    expect(bad.err()).toContain('alink-agent doctor: doctor needs --config FILE');
  });

  it('checks a configuration against a live broker (exit 0) and against a closed port (exit 1), never printing the secret', async () => {
    const ok = bufferIo();
    expect(await main(['doctor', '--config', writeConfig('live', broker.url)], ok.io)).toBe(0);
    expect(ok.out()).toMatch(/^ok +broker: /m);
    expect(ok.out()).toMatch(/^ok +credentials: /m);
    const down = bufferIo();
    expect(await main(['doctor', '--config', writeConfig('down', `mqtt://127.0.0.1:${await freePort()}`)], down.io)).toBe(1);
    expect(down.out()).toMatch(/^FAIL broker: .*ECONNREFUSED/m);
    expect(down.out()).toMatch(/^skip credentials: /m);
    expect(ok.out() + ok.err() + down.out() + down.err()).not.toContain(DEVICE.secret);
  }, 20_000);
});
