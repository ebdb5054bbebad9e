/**
 * OTA modules, uploads and packages through the official SDK, and the firmware file server: signed, expiring URLs,
 * Range (206, 416), and the injected faults (a dropped connection, a corrupted byte, a voided URL).
 */
import * as $Iot from '@alicloud/iot20180120';
import { createHash } from 'node:crypto';
import type Iot from '@alicloud/iot20180120';
import { createIotClient } from '../sdk-client';
import { PK, startSim, testConfig } from './harness';
import { httpGet } from './ota-harness';

type Started = Awaited<ReturnType<typeof startSim>>;
let s: Started;
let client: Iot;
let clockOffset = 0;
const firmware = Buffer.from(Array.from({ length: 10_000 }, (_, i) => (i * 7 + 3) & 0xff));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

beforeAll(async () => {
  s = await startSim(testConfig(), { clock: () => Date.now() + clockOffset });
  client = createIotClient(s.httpUrl);
});
afterAll(() => s.sim.stop());

/** GET (or HEAD) through the OTA harness's tolerant client. */
const get = (url: string, headers: Record<string, string> = {}, method = 'GET') => httpGet(url, headers, method);

async function upload(body: Buffer, suffix = 'bin'): Promise<string> {
  const gen = await client.generateOTAUploadURL(new $Iot.GenerateOTAUploadURLRequest({ fileSuffix: suffix }));
  const d = gen.body!.data!;
  const form = new FormData();
  form.set('key', d.key!);
  form.set('policy', d.policy!);
  form.set('OSSAccessKeyId', d.OSSAccessKeyId!);
  form.set('Signature', d.signature!);
  form.set('success_action_status', '200');
  form.set('file', new Blob([body]), 'fw.bin');
  const res = await fetch(d.host!, { method: 'POST', body: form });
  expect(res.status).toBe(200);
  return d.firmwareUrl!;
}

describe('modules', () => {
  it('creates a module once per product, and refuses an unknown product', async () => {
    const req = new $Iot.CreateOTAModuleRequest({ productKey: PK, moduleName: 'mcu', aliasName: 'MCU', desc: 'the microcontroller' });
    expect((await client.createOTAModule(req)).body).toMatchObject({ success: true });
    expect((await client.createOTAModule(req)).body).toMatchObject({ success: false, code: 'iot.ota.ModuleAlreadyExists' });
    const other = await client.createOTAModule(new $Iot.CreateOTAModuleRequest({ productKey: 'a1Nope', moduleName: 'mcu' }));
    expect(other.body).toMatchObject({ success: false, code: 'iot.prod.NotExistedProduct' });
    await expect(client.createOTAModule(new $Iot.CreateOTAModuleRequest({ productKey: PK, moduleName: 'bad name' }))).rejects.toMatchObject({
      code: 'InvalidParameter',
      message: expect.stringContaining('ModuleName'),
    });
  });
});

describe('uploads and packages', () => {
  it('takes an OSS-style form upload and refuses a forged policy', async () => {
    const url = await upload(firmware);
    expect(url).toContain('/ota-upload/ota/');
    const gen = (await client.generateOTAUploadURL(new $Iot.GenerateOTAUploadURLRequest({}))).body!.data!;
    const form = new FormData();
    form.set('key', gen.key!);
    form.set('policy', gen.policy!);
    form.set('OSSAccessKeyId', gen.OSSAccessKeyId!);
    form.set('Signature', 'AAAA' + gen.signature!.slice(4));
    form.set('file', new Blob([firmware]));
    const res = await fetch(gen.host!, { method: 'POST', body: form });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('SignatureDoesNotMatch');
  });

  it('creates a single-file SHA256 package and answers it in QueryOTAFirmware', async () => {
    const url = await upload(firmware);
    const created = await client.createOTAFirmware(
      new $Iot.CreateOTAFirmwareRequest({ productKey: PK, destVersion: '2.0.0', firmwareName: 'fw 2', firmwareUrl: url, signMethod: 'SHA256', firmwareSign: sha256(firmware).toUpperCase(), udi: '{"ota_notice":"x"}' }),
    );
    expect(created.body).toMatchObject({ success: true, data: { firmwareId: expect.stringMatching(/^[A-Za-z0-9]{26}$/) } });
    const q = await client.queryOTAFirmware(new $Iot.QueryOTAFirmwareRequest({ firmwareId: created.body!.data!.firmwareId }));
    expect(q.body!.firmwareInfo).toMatchObject({
      destVersion: '2.0.0',
      firmwareSign: sha256(firmware),
      firmwareSize: firmware.length,
      firmwareUrl: url,
      signMethod: 'SHA256',
      moduleName: 'default',
      productKey: PK,
      status: 1,
      type: 0,
      udi: '{"ota_notice":"x"}',
    });
  });

  it('creates a multi-file package with per-file digests', async () => {
    const a = Buffer.from('first file');
    const b = Buffer.from('second file, longer');
    const [ua, ub] = [await upload(a), await upload(b, 'tar.gz')];
    const created = await client.createOTAFirmware(
      new $Iot.CreateOTAFirmwareRequest({
        productKey: PK,
        moduleName: 'mcu',
        destVersion: '3.1',
        firmwareName: 'multi',
        signMethod: 'MD5',
        multiFiles: [new $Iot.CreateOTAFirmwareRequestMultiFiles({ name: 'a.bin', url: ua, size: a.length, signValue: md5(a) }), new $Iot.CreateOTAFirmwareRequestMultiFiles({ name: 'b.tar.gz', url: ub })],
      }),
    );
    expect(created.body).toMatchObject({ success: true });
    const info = (await client.queryOTAFirmware(new $Iot.QueryOTAFirmwareRequest({ firmwareId: created.body!.data!.firmwareId }))).body!.firmwareInfo!;
    expect(info.firmwareUrl).toBeUndefined();
    expect(info.multiFiles).toEqual([
      expect.objectContaining({ name: 'a.bin', url: ua, size: a.length, signValue: md5(a), fileMd5: md5(a) }),
      expect.objectContaining({ name: 'b.tar.gz', url: ub, size: b.length, signValue: md5(b) }),
    ]);
  });

  it.each([
    [{ firmwareName: 'x', firmwareUrl: 'u' }, 'MissingParameter', 'DestVersion'],
    [{ destVersion: '1', firmwareName: 'x', firmwareUrl: 'http://elsewhere/x.bin' }, 'InvalidParameter', 'FirmwareUrl'],
    [{ destVersion: '1', firmwareName: 'x', firmwareUrl: 'u', signMethod: 'CRC32' }, 'InvalidParameter', 'SignMethod'],
    [{ destVersion: 'v 1', firmwareName: 'x', firmwareUrl: 'u' }, 'InvalidParameter', 'DestVersion'],
    [{ destVersion: '1', firmwareName: 'x', type: 1, firmwareUrl: 'u' }, 'MissingParameter', 'SrcVersion'],
    [{ destVersion: '1', firmwareName: 'x' }, 'MissingParameter', 'FirmwareUrl'],
  ])('refuses %j with %s naming %s', async (params, code, name) => {
    await expect(client.createOTAFirmware(new $Iot.CreateOTAFirmwareRequest(params))).rejects.toMatchObject({ code, message: expect.stringContaining(name) });
  });

  it('checks a given digest and size against the upload unless NeedToVerify is false', async () => {
    const url = await upload(firmware);
    const base = { productKey: PK, destVersion: '9', firmwareName: 'bad', firmwareUrl: url };
    await expect(client.createOTAFirmware(new $Iot.CreateOTAFirmwareRequest({ ...base, firmwareSign: md5(Buffer.from('other')) }))).rejects.toMatchObject({
      code: 'InvalidParameter',
      message: expect.stringContaining('FirmwareSign'),
    });
    await expect(client.createOTAFirmware(new $Iot.CreateOTAFirmwareRequest({ ...base, firmwareSize: 3 }))).rejects.toMatchObject({ message: expect.stringContaining('FirmwareSize') });
    const unverified = await client.createOTAFirmware(new $Iot.CreateOTAFirmwareRequest({ ...base, firmwareSign: md5(Buffer.from('other')), needToVerify: false }));
    const info = (await client.queryOTAFirmware(new $Iot.QueryOTAFirmwareRequest({ firmwareId: unverified.body!.data!.firmwareId }))).body!.firmwareInfo!;
    expect(info).toMatchObject({ status: -1, firmwareSign: md5(Buffer.from('other')) });
    const missingModule = await client.createOTAFirmware(new $Iot.CreateOTAFirmwareRequest({ ...base, moduleName: 'nosuch' }));
    expect(missingModule.body).toMatchObject({ success: false, code: 'iot.ota.NotExistedModule' });
    const unknown = await client.queryOTAFirmware(new $Iot.QueryOTAFirmwareRequest({ firmwareId: 'nosuch' }));
    expect(unknown.body).toMatchObject({ success: false, code: 'iot.ota.NotExistedFirmware' });
  });
});

describe('firmware file server', () => {
  let firmwareId: string;
  beforeAll(async () => {
    const url = s.sim.ota.uploads.put(firmware);
    const created = await client.createOTAFirmware(new $Iot.CreateOTAFirmwareRequest({ productKey: PK, destVersion: '4.0', firmwareName: 'served', firmwareUrl: url }));
    firmwareId = created.body!.data!.firmwareId!;
  });
  afterEach(() => s.sim.ota.setFault(firmwareId, undefined));

  it('serves the whole file with Accept-Ranges, and HEAD without a body', async () => {
    const r = await get(s.sim.ota.downloadUrl(firmwareId));
    expect(r).toMatchObject({ status: 200, headers: { 'accept-ranges': 'bytes', 'content-length': String(firmware.length) } });
    expect(r.body.equals(firmware)).toBe(true);
    const h = await get(s.sim.ota.downloadUrl(firmwareId), {}, 'HEAD');
    expect(h).toMatchObject({ status: 200, headers: { 'content-length': String(firmware.length) } });
    expect(h.body.length).toBe(0);
  });

  it.each([
    ['bytes=100-199', 100, 199],
    ['bytes=9000-', 9000, 9999],
    ['bytes=-10', 9990, 9999],
    ['bytes=9990-20000', 9990, 9999],
  ])('answers Range %s with 206 and its Content-Range', async (range, start, end) => {
    const r = await get(s.sim.ota.downloadUrl(firmwareId), { range });
    expect(r).toMatchObject({ status: 206, headers: { 'content-range': `bytes ${start}-${end}/${firmware.length}`, 'content-length': String(end - start + 1) } });
    expect(r.body.equals(firmware.subarray(start, end + 1))).toBe(true);
  });

  it('answers a Range past the end with 416 and the size', async () => {
    const r = await get(s.sim.ota.downloadUrl(firmwareId), { range: `bytes=${firmware.length}-` });
    expect(r).toMatchObject({ status: 416, headers: { 'content-range': `bytes */${firmware.length}` } });
  });

  it('refuses a changed signature, a voided URL and an expired one with 403', async () => {
    const url = s.sim.ota.downloadUrl(firmwareId);
    const changed = url.replace(/Signature=(.)/, (_m, c: string) => `Signature=${c === '0' ? '1' : '0'}`);
    expect((await get(changed)).status).toBe(403);
    s.sim.ota.expireUrls(firmwareId);
    const voided = await get(url);
    expect([voided.status, voided.body.toString().trim()]).toEqual([403, 'URL expired']);
    const fresh = s.sim.ota.downloadUrl(firmwareId);
    expect((await get(fresh)).status).toBe(200);
    clockOffset = 3601_000;
    try {
      const late = await get(fresh);
      expect([late.status, late.body.toString().trim()]).toEqual([403, 'URL expired']);
    } finally {
      clockOffset = 0;
    }
  });

  it('drops the connection after N bytes for the next response only', async () => {
    s.sim.ota.setFault(firmwareId, { dropAfterBytes: 1234 });
    const cut = await get(s.sim.ota.downloadUrl(firmwareId));
    expect(cut.aborted).toBe(true);
    expect(cut.body.length).toBeLessThanOrEqual(1234);
    expect(cut.body.equals(firmware.subarray(0, cut.body.length))).toBe(true);
    const whole = await get(s.sim.ota.downloadUrl(firmwareId));
    expect([whole.aborted, whole.body.equals(firmware)]).toEqual([false, true]);
  });

  it('serves one corrupted byte in whole and ranged downloads until cleared', async () => {
    s.sim.ota.setFault(firmwareId, { corruptByteAt: 5000 });
    const whole = await get(s.sim.ota.downloadUrl(firmwareId));
    expect(whole.body.length).toBe(firmware.length);
    expect(whole.body[5000]).toBe(firmware[5000]! ^ 0xff);
    expect(whole.body.subarray(0, 5000).equals(firmware.subarray(0, 5000))).toBe(true);
    const part = await get(s.sim.ota.downloadUrl(firmwareId), { range: 'bytes=4990-5009' });
    expect(part.body[10]).toBe(firmware[5000]! ^ 0xff);
    s.sim.ota.setFault(firmwareId, undefined);
    expect((await get(s.sim.ota.downloadUrl(firmwareId))).body.equals(firmware)).toBe(true);
  });
});
