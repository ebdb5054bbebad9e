/**
 * The downloader's own HTTP/1.1 client (agent/ota/http-client.ts) through downloadAttempt, against real sockets on
 * 127.0.0.1: a response head arriving byte by byte, responses it leaves to Node's `http` (chunked, a 1xx) fetched
 * again that way, 206 and its Content-Range, 416 and the statuses that end an attempt, a drop mid-body then a
 * resume, the idle timeout and an abort (bytes before them kept), HTTPS against a test CA, and a block write much
 * slower than the socket (the reused read buffer must not be overwritten while the StagedFile still copies it).
 */
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StagedFile } from '../agent/ota/staged-file';
import { PermanentDownloadError, UrlRefusedError, downloadAttempt, type AttemptOptions } from '../agent/ota/http-download';
import { bytes, sha256, startFileServer, type FileServer } from './ota-support';
import { makeTlsFiles } from './agent-support';

const BLOCK = 64 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A TCP server that reads one request head per connection and answers it with `reply`; the heads are kept. */
async function rawServer(reply: (s: net.Socket, head: string, n: number) => unknown): Promise<{ url: string; heads: string[]; close(): Promise<void> }> {
  const heads: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let got = '';
    const onData = (d: Buffer) => {
      got += d.toString('latin1');
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onData);
      heads.push(got.slice(0, end));
      void reply(s, got.slice(0, end), heads.length);
    };
    s.on('data', onData);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/fw.bin?Expires=1&Signature=x`,
    heads,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** Makes the block writes of `file` (of every file handle) slower than a local socket, every 16th by a timer. */
function slowWrites(file: StagedFile): void {
  const proto = Object.getPrototypeOf((file as unknown as { fh: FileHandle }).fh) as FileHandle;
  const write = proto.write as (...a: unknown[]) => Promise<unknown>;
  let calls = 0;
  jest.spyOn(proto, 'write').mockImplementation(async function (this: FileHandle, ...args: unknown[]) {
    if (++calls % 16 === 0) await sleep(1);
    else await new Promise((r) => setImmediate(r));
    return write.apply(this, args);
  } as never);
}

const identity = (body: Buffer, status = '200 OK', extra = '') => Buffer.concat([Buffer.from(`HTTP/1.1 ${status}\r\nContent-Length: ${body.length}\r\n${extra}\r\n`), body]);

describe('OTA HTTP client', () => {
  let dir: string;
  let server: FileServer;
  const cleanup: (() => Promise<void> | void)[] = [];

  beforeAll(async () => {
    server = await startFileServer();
  });
  afterAll(() => server.close());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ota-http-'));
    server.log.length = 0;
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    for (const c of cleanup.splice(0)) await c();
    rmSync(dir, { recursive: true, force: true });
  });

  const open = (offset = 0, block = BLOCK) => StagedFile.open(join(dir, 'fw.bin'), 'sha256', offset, block, () => undefined);
  const opts = (url: string, size: number, more: Partial<AttemptOptions> = {}): AttemptOptions => ({ url, size, idleTimeoutMs: 5000, signal: new AbortController().signal, ...more });
  const fetchAll = async (url: string, body: Buffer, more: Partial<AttemptOptions> = {}) => {
    const file = await open();
    cleanup.push(() => file.close());
    await downloadAttempt(file, opts(url, body.length, more));
    return file.digest();
  };

  it('reads a head that arrives byte by byte, body bytes in the same read as its end, and sends Range, Host, Connection: close', async () => {
    const body = bytes(300_000, 11);
    const raw = await rawServer(async (s) => {
      const response = identity(body);
      const headEnd = response.indexOf('\r\n\r\n') + 4;
      for (let i = 0; i < headEnd; i++) {
        s.write(response.subarray(i, i + 1));
        await sleep(1);
      }
      // The end of the head and the first body bytes in one write.
      s.write(response.subarray(headEnd, headEnd + 5));
      await sleep(5);
      s.end(response.subarray(headEnd + 5));
    });
    cleanup.push(raw.close);
    expect(await fetchAll(raw.url, body)).toBe(sha256(body));
    expect(raw.heads[0]).toMatch(/^GET \/fw\.bin\?Expires=1&Signature=x HTTP\/1\.1\r\n/);
    expect(raw.heads[0]).toMatch(/\r\nHost: 127\.0\.0\.1:\d+\r\n/);
    expect(raw.heads[0]).toMatch(/\r\nConnection: close(\r\n|$)/);
    expect(raw.heads[0]).not.toMatch(/Range/i);
  });

  it('fetches a chunked response, and one after a 1xx, again through Node http, to the same bytes', async () => {
    const body = bytes(200_000, 12);
    const chunked = await rawServer((s) => {
      s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
      for (let at = 0; at < body.length; at += 70_000) {
        const part = body.subarray(at, at + 70_000);
        s.write(`${part.length.toString(16)}\r\n`);
        s.write(part);
        s.write('\r\n');
      }
      s.end('0\r\n\r\n');
    });
    cleanup.push(chunked.close);
    expect(await fetchAll(chunked.url, body)).toBe(sha256(body));
    expect(chunked.heads).toHaveLength(2);

    const informational = await rawServer((s) => s.end(Buffer.concat([Buffer.from('HTTP/1.1 102 Processing\r\n\r\n'), identity(body)])));
    cleanup.push(informational.close);
    rmSync(join(dir, 'fw.bin'));
    expect(await fetchAll(informational.url, body)).toBe(sha256(body));
    expect(informational.heads).toHaveLength(2);
  });

  it('resumes with a 206 whose Content-Range starts at the offset; refuses one that starts elsewhere, a 416 and the statuses', async () => {
    const body = bytes(100_000, 13);
    writeFileSync(join(dir, 'fw.bin'), body.subarray(0, 40_000));
    let rangeStart = 40_000;
    const raw = await rawServer((s) => s.end(identity(body.subarray(rangeStart), '206 Partial Content', `Content-Range: bytes ${rangeStart}-${body.length - 1}/${body.length}\r\n`)));
    cleanup.push(raw.close);
    const file = await open(40_000);
    await downloadAttempt(file, opts(raw.url, body.length));
    expect(raw.heads[0]).toMatch(/\r\nRange: bytes=40000-\r\n/);
    expect(file.digest()).toBe(sha256(body));
    await file.close();

    rmSync(join(dir, 'fw.bin.boot'));
    writeFileSync(join(dir, 'fw.bin'), body.subarray(0, 40_000));
    rangeStart = 30_000;
    const wrong = await open(40_000);
    cleanup.push(() => wrong.close());
    await expect(downloadAttempt(wrong, opts(raw.url, body.length))).rejects.toThrow(/Content-Range bytes 30000-99999\/100000 does not start at 40000/);

    // The file server has 100 000 bytes, all staged; the notice says 150 000.
    server.files.set('/short.bin', { body });
    writeFileSync(join(dir, 'whole.bin'), body);
    const whole = await StagedFile.open(join(dir, 'whole.bin'), 'sha256', body.length, BLOCK, () => undefined);
    cleanup.push(() => whole.close());
    await expect(downloadAttempt(whole, opts(server.url('/short.bin'), 150_000))).rejects.toThrow('HTTP 416 at offset 100000 of 150000');
    const status = (code: string) => rawServer((s) => s.end(`HTTP/1.1 ${code}\r\nContent-Length: 5\r\n\r\nnope!`));
    for (const [code, kind] of [
      ['404 Not Found', UrlRefusedError],
      ['410 Gone', UrlRefusedError],
      ['400 Bad Request', PermanentDownloadError],
      ['302 Found', PermanentDownloadError],
    ] as const) {
      const s = await status(code);
      cleanup.push(s.close);
      await expect(downloadAttempt(wrong, opts(s.url, 150_000))).rejects.toBeInstanceOf(kind);
    }
    const busy = await status('503 Service Unavailable');
    cleanup.push(busy.close);
    const err = (await downloadAttempt(wrong, opts(busy.url, 150_000)).catch((e: unknown) => e)) as Error;
    expect(err.message).toBe('HTTP 503');
    expect(err).not.toBeInstanceOf(PermanentDownloadError);
  });

  it('keeps what arrived before a drop, a stall or an abort, and the next attempt resumes after it', async () => {
    const body = bytes(1_000_000, 14);
    server.files.set('/drop.bin', { body, dropAfter: 350_000, drops: 1 });
    const file = await open();
    cleanup.push(() => file.close());
    await expect(downloadAttempt(file, opts(server.url('/drop.bin'), body.length))).rejects.toThrow('connection closed at 350000 of 1000000 bytes');
    expect(readFileSync(join(dir, 'fw.bin')).length).toBe(350_000);

    const stall = await rawServer((s, head) => {
      const start = Number(/Range: bytes=(\d+)-/.exec(head)?.[1] ?? 0);
      s.write(identity(body.subarray(start), '206 Partial Content', `Content-Range: bytes ${start}-${body.length - 1}/${body.length}\r\n`).subarray(0, 300_000));
    });
    cleanup.push(stall.close);
    const t0 = Date.now();
    await expect(downloadAttempt(file, opts(stall.url, body.length, { idleTimeoutMs: 300 }))).rejects.toThrow('no data for 300 ms (ota.idleTimeoutMs)');
    expect(Date.now() - t0).toBeLessThan(3000);
    const afterStall = file.offset;
    expect(afterStall).toBeGreaterThan(350_000);

    server.files.set('/slow.bin', { body, chunkDelayMs: 20 });
    const abort = new AbortController();
    const seen = { n: 0 };
    const aborted = downloadAttempt(file, opts(server.url('/slow.bin'), body.length, { signal: abort.signal, onBytes: (n) => (seen.n += n) > 50_000 && abort.abort() }));
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    expect(file.offset).toBeGreaterThan(afterStall);
    expect(file.durable).toBe(file.offset);

    await downloadAttempt(file, opts(server.url('/drop.bin'), body.length));
    expect(file.digest()).toBe(sha256(body));
    expect(readFileSync(join(dir, 'fw.bin')).equals(body)).toBe(true);
  });

  it('rejects a response head past 16 KiB with a message that says so', async () => {
    const raw = await rawServer((s) => s.end(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(20_000)}\r\nContent-Length: 1\r\n\r\nx`));
    cleanup.push(raw.close);
    const file = await open();
    cleanup.push(() => file.close());
    await expect(downloadAttempt(file, opts(raw.url, 1))).rejects.toThrow(/response head: expected at most 16384 bytes/);
  });

  it('downloads over HTTPS from a server whose certificate the given CA signed, and refuses it without that CA', async () => {
    const tlsFiles = makeTlsFiles();
    cleanup.push(() => rmSync(tlsFiles.dir, { recursive: true, force: true }));
    const body = bytes(3_000_000, 15);
    const srv = https.createServer({ cert: readFileSync(tlsFiles.certFile), key: readFileSync(tlsFiles.keyFile) }, (req, res) => {
      const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
      res.writeHead(start ? 206 : 200, { 'content-length': body.length - start, ...(start ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}) });
      res.end(body.subarray(start));
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    cleanup.push(() => new Promise<void>((r) => srv.close(() => r())));
    const { port } = srv.address() as AddressInfo;
    const ca = readFileSync(tlsFiles.caFile);
    for (const host of ['127.0.0.1', 'localhost']) {
      rmSync(join(dir, 'fw.bin'), { force: true });
      expect(await fetchAll(`https://${host}:${port}/fw.bin`, body, { ca })).toBe(sha256(body));
    }
    writeFileSync(join(dir, 'fw.bin'), body.subarray(0, 1_000_000));
    const part = await open(1_000_000, 4096);
    cleanup.push(() => part.close());
    // A TLS socket goes on delivering decrypted records after it is paused: they must queue, not overwrite.
    slowWrites(part);
    await downloadAttempt(part, opts(`https://localhost:${port}/fw.bin`, body.length, { ca }));
    expect(part.digest()).toBe(sha256(body));
    const other = await StagedFile.open(join(dir, 'other.bin'), 'sha256', 0, BLOCK, () => undefined);
    cleanup.push(() => other.close());
    await expect(downloadAttempt(other, opts(`https://localhost:${port}/fw.bin`, body.length))).rejects.toThrow(/self.signed|unable to (get|verify)/i);
  });

  it('gives identical bytes when every block write is slower than the socket (1 MiB reads into 4 KiB blocks)', async () => {
    const body = bytes(6_000_000, 16);
    const raw = await rawServer((s) => s.end(identity(body)));
    cleanup.push(raw.close);
    const file = await open(0, 4096);
    cleanup.push(() => file.close());
    slowWrites(file);
    const chunks: number[] = [];
    await downloadAttempt(file, opts(raw.url, body.length, { onBytes: (n) => chunks.push(n) }));
    expect(file.digest()).toBe(sha256(body));
    expect(readFileSync(join(dir, 'fw.bin')).equals(body)).toBe(true);
    // The reads were larger than a block, so appends had to wait mid-chunk.
    expect(Math.max(...chunks)).toBeGreaterThan(4096 * 2);
  });
});
