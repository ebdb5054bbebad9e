/**
 * The mosquitto plugin's topic rules (C, simulator/mosquitto-plugin/topics.c) against the embedded broker's
 * (simulator/mqtt/acl.ts, server-subscriptions.ts), property-based: publish and subscribe permissions, what a
 * device may receive, and which platform publishes go straight to an `_ss=1` device, given the same server-side
 * subscription templates the managed broker hands the plugin. The OTA topics are checked by name as well.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { compileFilter, otaTopics } from '../../thing-model/wire';
import { mayPublish, maySubscribe } from '../mqtt/acl';
import { managedSupport } from '../mqtt/mosquitto-support';
import { SERVER_SUBSCRIPTION_TEMPLATES, serverSubscriptionFilters } from '../mqtt/server-subscriptions';

const me = { productKey: 'a1GwDemo01', deviceName: 'gw-001' };
const PKS = [me.productKey, 'a1Other', '+'];
const DNS = [me.deviceName, 'gw-002', '+', '#'];
const REST = ['thing', 'event', 'property', 'post', 'post_reply', 'service', 'set', 'rrpc', 'request', 'response', '42', 'user', 'get', 'ota', 'firmware', 'get_reply', 'file', 'download_reply', '+', '#', ''];

const pick = (xs: string[]) => fc.constantFrom(...xs);
const rest = fc.array(pick(REST), { maxLength: 4 });
/** Topics and filters shaped like the platform's, with own, foreign and wildcard identities. */
const topic = fc
  .oneof(
    fc.tuple(pick(PKS), pick(DNS), rest).map(([pk, dn, r]) => ['sys', pk, dn, ...r]),
    fc.tuple(pick(PKS), pick(DNS), rest).map(([pk, dn, r]) => [pk, dn, 'user', ...r]),
    fc.tuple(pick(['inform', 'upgrade', 'progress', 'request', '+', 'other']), pick(PKS), pick(DNS), fc.array(pick(REST), { maxLength: 1 })).map(([k, pk, dn, r]) => ['ota', 'device', k, pk, dn, ...r]),
    fc.tuple(pick(['ntp', 'error', 'session']), pick(PKS), pick(DNS), rest).map(([k, pk, dn, r]) => ['ext', k, pk, dn, ...r]),
    fc.tuple(pick(['123', '+', '#']), pick(['sys', PKS[0]!]), pick(PKS), pick(DNS), rest).map(([id, s, pk, dn, r]) => (s === 'sys' ? ['ext', 'rrpc', id, 'sys', pk, dn, ...r] : ['ext', 'rrpc', id, s, dn, 'user', ...r])),
    fc.tuple(pick(['update', 'get', 'x']), pick(PKS), pick(DNS), rest).map(([k, pk, dn, r]) => ['shadow', k, pk, dn, ...r]),
    fc.tuple(pick(PKS), rest).map(([pk, r]) => ['broadcast', pk, ...r]),
    fc.array(pick(REST), { minLength: 1, maxLength: 5 }),
  )
  .map((levels) => `/${levels.join('/')}`);
const concrete = (t: string) => !/[+#]/.test(t);

const support = managedSupport();
let driver: string;
let dir: string;

beforeAll(() => {
  if (!support.ok) throw new Error(`the plugin's C rules need a compiler and the headers: ${support.why}`);
  dir = mkdtempSync(join(tmpdir(), 'alink-topics-'));
  driver = join(dir, 'topics-driver');
  const src = join(__dirname, '..', 'mosquitto-plugin');
  execFileSync(support.cc, ['-O2', '-Wall', '-Werror', '-o', driver, join(__dirname, 'fixtures', 'topics-driver.c'), join(src, 'topics.c')]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the driver on request lines (after the templates line); one answer per line. */
function cAnswers(lines: string[], templates = SERVER_SUBSCRIPTION_TEMPLATES.join(' ')): string[] {
  const out = execFileSync(driver, { input: [templates, ...lines].join('\n') + '\n' }).toString().split('\n');
  expect(out[0]).toBe('1 templates');
  return out.slice(1, 1 + lines.length);
}

const forMe = (use: string, t: string) => `${use}\t${t}\t${me.productKey}\t${me.deviceName}`;

describe("the plugin's topic rules agree with the embedded broker's", () => {
  const topics = [...new Set(fc.sample(topic, { numRuns: 1500, seed: 17 }))];

  it('on publish and subscribe permissions', () => {
    const c = cAnswers(topics.flatMap((t) => [forMe('P', t), forMe('S', t)]));
    const mismatches = topics
      .map((t, i) => ({ t, cPub: c[2 * i] === '1', tsPub: mayPublish(t, me), cSub: c[2 * i + 1] === '1', tsSub: maySubscribe(t, me) }))
      .filter((x) => x.cPub !== x.tsPub || x.cSub !== x.tsSub);
    expect(mismatches).toEqual([]);
  });

  it('on what a device may receive: exactly the concrete topics it may subscribe to', () => {
    const plain = topics.filter(concrete);
    const c = cAnswers(plain.map((t) => forMe('R', t)));
    expect(plain.filter((t, i) => (c[i] === '1') !== maySubscribe(t, me))).toEqual([]);
  });

  it('on which platform publishes reach an _ss=1 device directly: those its server-side filters match', () => {
    const plain = topics.filter(concrete);
    const c = cAnswers(plain.map((t) => `X\t${t}`));
    const matches = (t: string, productKey: string, deviceName: string) => serverSubscriptionFilters({ productKey, deviceName }).some((f) => compileFilter(f).test(t));
    const wrong = plain.filter((t, i) => {
      if (c[i] !== '-') {
        const [pk, dn] = c[i]!.split('\t') as [string, string];
        return !matches(t, pk, dn);
      }
      // No device at all: try every pair of the topic's levels as the identity.
      const levels = t.split('/').filter(Boolean);
      return levels.some((pk) => levels.some((dn) => matches(t, pk, dn)));
    });
    expect(wrong).toEqual([]);
    expect(c.filter((x) => x !== '-').length).toBeGreaterThan(50);
  });

  it('refuses a template without both identity slots before the #', () => {
    for (const bad of ['/sys/{pk}/#', '/sys/#/{pk}/{dn}', '/sys/{pk}x/{dn}', 'sys/{pk}/{dn}']) {
      expect(execFileSync(driver, { input: `${bad}\n` }).toString().trim()).toBe('0 malformed');
    }
  });
});

describe('OTA topics for an _ss=1 device', () => {
  const ota = otaTopics(me);
  const down = [ota.upgrade, ota.firmwareGetReply, ota.fileDownloadReply];
  const up = [ota.inform, ota.progress, ota.request, ota.firmwareGet, ota.fileDownload];

  it('the downstream ones are in the server-side subscription set, in both brokers; the upstream ones are not', () => {
    const filters = serverSubscriptionFilters(me).map(compileFilter);
    const c = cAnswers([...down, ota.inform, ota.progress, ota.request].map((t) => `X\t${t}`));
    expect(down.map((t) => filters.some((f) => f.test(t)))).toEqual([true, true, true]);
    expect(c).toEqual([...down.map(() => `${me.productKey}\t${me.deviceName}`), '-', '-', '-']);
    expect([ota.inform, ota.progress, ota.request].some((t) => filters.some((f) => f.test(t)))).toBe(false);
  });

  it('the device may publish the upstream ones and receive (subscribe) the downstream ones, not the other way', () => {
    const c = cAnswers([...up.map((t) => forMe('P', t)), ...down.map((t) => forMe('R', t)), forMe('P', ota.upgrade), forMe('R', ota.inform), forMe('S', ota.progress)]);
    expect(c).toEqual([...up.map(() => '1'), ...down.map(() => '1'), '0', '0', '0']);
    expect(up.every((t) => mayPublish(t, me)) && down.every((t) => maySubscribe(t, me))).toBe(true);
    expect([mayPublish(ota.upgrade, me), maySubscribe(ota.inform, me), maySubscribe(ota.progress, me)]).toEqual([false, false, false]);
    expect(mayPublish(otaTopics({ ...me, deviceName: 'gw-002' }).inform, me)).toBe(false);
  });
});
