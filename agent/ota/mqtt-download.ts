/**
 * MQTT block download (`thing/file/download`, docs/protocol/ota.md "MQTT download"): the device asks for one
 * block at a time by offset and size; each answer is binary: a 2-byte big-endian header length, the JSON header
 * (`{code, data: {bSize, bOffset, fileLength}}`), the block, and a CRC-16/ARC of the block. The byte order of the
 * CRC is not documented: both orders are accepted (a wrong block fails either check with odds 2^-15).
 */
import { AlinkCodes } from '../../thing-model/codes';
import { AlinkMethods, type MessageIdGenerator } from '../../thing-model/wire';
import type { Uplink } from '../transport';
import type { StagedFile } from './staged-file';

export interface BlockRequest {
  streamId: number;
  fileId: number;
  offset: number;
  size: number;
}

interface Waiter {
  offset: number;
  resolve(b: Buffer): void;
  reject(e: Error): void;
}

export class MqttBlocks {
  private readonly waiting = new Map<number, Waiter>();

  constructor(
    private readonly o: { uplink: Uplink; topic: string; ids: MessageIdGenerator; timeoutMs: number; attempts: number },
  ) {}

  /** A `download_reply`. Never throws; an answer nobody waits for is dropped. */
  handle(payload: Buffer): void {
    const block = parseBlock(payload);
    if (!block) return;
    const w = this.waiting.get(block.offset);
    if (!w) return;
    this.waiting.delete(block.offset);
    if (block.error) w.reject(new Error(block.error));
    else w.resolve(block.data!);
  }

  /** Downloads from `file.offset` to `size`, block by block, each retried `attempts` times. */
  async download(file: StagedFile, streamId: number, fileId: number, size: number, blockBytes: number, signal: AbortSignal, onBytes?: (n: number) => void): Promise<void> {
    while (file.received < size) {
      signal.throwIfAborted();
      const want = Math.min(blockBytes, size - file.received);
      const data = await this.block({ streamId, fileId, offset: file.received, size: want }, signal);
      if (data.length !== want) throw new Error(`block at ${file.received}: ${data.length} bytes, asked for ${want}`);
      onBytes?.(data.length);
      await file.append(data);
    }
    await file.flush();
  }

  private async block(req: BlockRequest, signal: AbortSignal): Promise<Buffer> {
    let last: Error | undefined;
    for (let i = 0; i < this.o.attempts; i++) {
      try {
        return await this.once(req, signal);
      } catch (e) {
        if (signal.aborted) throw e;
        last = e as Error;
      }
    }
    throw new Error(`block at ${req.offset}: ${last?.message ?? 'no answer'} after ${this.o.attempts} attempts`);
  }

  private once(req: BlockRequest, signal: AbortSignal): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`no answer within ${this.o.timeoutMs} ms`)), this.o.timeoutMs);
      const onAbort = () => done(signal.reason as Error);
      const done = (err: Error | undefined, b?: Buffer) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (this.waiting.get(req.offset)?.resolve === ok) this.waiting.delete(req.offset);
        if (err) reject(err);
        else resolve(b!);
      };
      const ok = (b: Buffer) => done(undefined, b);
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.set(req.offset, { offset: req.offset, resolve: ok, reject: (e) => done(e) });
      const payload = JSON.stringify({
        id: this.o.ids.nextId(),
        version: '1.0',
        params: { fileToken: 'default', fileInfo: { streamId: req.streamId, fileId: req.fileId }, fileBlock: { size: req.size, offset: req.offset } },
        method: AlinkMethods.FILE_DOWNLOAD,
      });
      this.o.uplink.publish(this.o.topic, payload, { qos: 0, messageClass: 'ota' }).catch((e: unknown) => done(e as Error));
    });
  }

  stop(): void {
    for (const w of this.waiting.values()) w.reject(new Error('agent is stopping'));
    this.waiting.clear();
  }
}

/** The parts of a `download_reply`, or undefined when it is not one. */
export function parseBlock(p: Buffer): { offset: number; data?: Buffer; error?: string } | undefined {
  if (p.length < 2) return undefined;
  const hlen = p.readUInt16BE(0);
  if (p.length < 2 + hlen) return undefined;
  let h: { code?: unknown; message?: unknown; data?: { bSize?: unknown; bOffset?: unknown } };
  try {
    h = JSON.parse(p.toString('utf8', 2, 2 + hlen)) as typeof h;
  } catch {
    return undefined;
  }
  const offset = Number(h.data?.bOffset);
  if (!Number.isSafeInteger(offset)) return undefined;
  if (h.code !== AlinkCodes.SUCCESS) return { offset, error: `code ${String(h.code)}${typeof h.message === 'string' ? `: ${h.message}` : ''}` };
  const size = Number(h.data?.bSize);
  if (!Number.isSafeInteger(size) || p.length !== 2 + hlen + size + 2) return { offset, error: `block of ${p.length - 4 - hlen} bytes, header says ${String(h.data?.bSize)}` };
  const data = p.subarray(2 + hlen, 2 + hlen + size);
  const crc = crc16arc(data);
  const tail = p.subarray(2 + hlen + size);
  if (tail.readUInt16LE(0) !== crc && tail.readUInt16BE(0) !== crc) return { offset, error: 'CRC-16 mismatch' };
  return { offset, data: Buffer.from(data) };
}

/** CRC-16/ARC (poly 0x8005 reflected = 0xA001, init 0); check value of "123456789" is 0xBB3D. */
export function crc16arc(b: Buffer): number {
  let crc = 0;
  for (const byte of b) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}
