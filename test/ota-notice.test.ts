/** The upgrade notice in every spelling the SDKs and docs show (docs/protocol/ota.md, "Upgrade notice"). */
import { jobKey, noticeData, parseNotice } from '../agent/ota/notice';
import { OtaError } from '../agent/ota/errors';

const MD5 = '93230c3bde425a9d7984a594ac55ea1e';
const SHA = 'a'.repeat(64);
const doc = { size: 432945, version: '2.0.0', isDiff: 1, url: 'https://oss.example/x.tar.gz?Expires=1502955804&Signature=s', md5: MD5, sign: MD5, signMethod: 'MD5', module: 'MCU', extData: { key1: 'value1' } };

describe('upgrade notice', () => {
  it('reads the documented notice, numeric id and string code', () => {
    const data = noticeData(Buffer.from(JSON.stringify({ code: '1000', id: 1626969597470, message: 'success', data: doc })));
    const n = parseNotice(data);
    expect(n).toMatchObject({ module: 'MCU', version: '2.0.0', isDiff: true, signMethod: 'md5', protocol: 'https', size: 432945, extData: { key1: 'value1' } });
    expect(n.files).toEqual([{ name: 'x.tar.gz', size: 432945, sign: MD5, url: doc.url }]);
  });

  it.each(['MD5', 'Md5', 'md5'])('takes signMethod %s', (signMethod) => {
    expect(parseNotice({ ...doc, signMethod }).signMethod).toBe('md5');
  });

  it.each(['SHA256', 'Sha256', 'sha-256'])('takes signMethod %s', (signMethod) => {
    expect(parseNotice({ ...doc, signMethod, sign: SHA.toUpperCase() })).toMatchObject({ signMethod: 'sha256', files: [{ sign: SHA }] });
  });

  it('takes the older md5 field alone, sizes as strings, no module (default)', () => {
    const n = parseNotice({ version: '1.1', url: 'http://h/f.bin', md5: MD5.toUpperCase(), size: '10' });
    expect(n).toMatchObject({ module: 'default', signMethod: 'md5', isDiff: false, files: [{ name: 'f.bin', size: 10, sign: MD5 }] });
  });

  it('reads multi-file packages and MQTT downloads', () => {
    const n = parseNotice({
      version: '3',
      signMethod: 'SHA256',
      files: [
        { fileName: 'app.bin', fileSize: 5, fileUrl: 'http://h/a', fileSign: SHA },
        { fileName: 'cfg.tar', fileSize: 7, fileUrl: 'http://h/b', fileSign: 'b'.repeat(64) },
      ],
    });
    expect(n.size).toBe(12);
    expect(n.files.map((f) => f.name)).toEqual(['app.bin', 'cfg.tar']);
    const m = parseNotice({ version: '3', signMethod: 'Md5', sign: MD5, size: 100, dProtocol: 'mqtt', streamId: 1234, streamFileId: 1 });
    expect(m).toMatchObject({ protocol: 'mqtt', streamId: 1234, files: [{ streamFileId: 1, size: 100 }] });
    expect(jobKey(m)).toBe(`default@3:${MD5}`);
  });

  it.each([
    [{ ...doc, version: '' }, 'version: expected a non-empty string, received ""'],
    [{ ...doc, signMethod: 'crc32' }, 'signMethod: expected "MD5" or "SHA256" (any case), received "crc32"'],
    [{ ...doc, sign: 'xyz' }, 'sign: expected the MD5 digest in hex (32 characters), received "xyz"'],
    [{ ...doc, url: 'ftp://h/x' }, 'url: expected an http:// or https:// URL, received "ftp://h/x"'],
    [{ ...doc, size: -1 }, 'size: expected a byte count (a non-negative integer), received -1'],
    [{ ...doc, files: [{ fileName: '../etc/passwd', fileSize: 1, fileUrl: 'http://h/a', fileSign: MD5 }] }, 'files[0].fileName: expected a file name of letters, digits, _ . + -, received "../etc/passwd"'],
  ])('refuses a bad notice naming the field (%#)', (data, message) => {
    expect(() => parseNotice(data)).toThrow(new OtaError('OTA_NOTICE_INVALID', message));
  });

  it('refuses an envelope that is not a success notice', () => {
    expect(() => noticeData(Buffer.from('{"code":"500","message":"fail","data":{}}'))).toThrow('code: expected "1000", received "500"');
    expect(() => noticeData(Buffer.from('nope'))).toThrow('payload: expected a JSON object');
  });
});
