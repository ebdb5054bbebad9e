/**
 * Uploading a package before CreateOTAFirmware (docs/protocol/ota-platform.md, "Uploading a file"). The platform
 * answers GenerateOTAUploadURL with the fields of an OSS PostObject form (Host, Key, Policy, OSSAccessKeyId,
 * Signature) and a FirmwareUrl naming the object; the client then POSTs a multipart form to Host. The simulator
 * plays the OSS bucket on its own HTTP listener: `POST /ota-upload` with the same form fields and the file last,
 * the policy signed (base64 HMAC-SHA1, as OSS v1 signs policies) under a key made when the simulator starts.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyTooLarge, readBody, type HttpRoute } from '../http/server';
import { type OtaCatalog, utcNow } from './catalog';

export const UPLOAD_PATH = '/ota-upload';
/** Each package file may be up to 1,000 MB on the platform (docs/protocol/ota-platform.md). */
export const MAX_UPLOAD_BYTES = 1000 * 1024 * 1024;
const ACCESS_KEY_ID = 'alink-sim-ota';
const SLOT_TTL_SECONDS = 3600;

export const FILE_SUFFIXES = ['bin', 'dav', 'tar', 'gz', 'zip', 'gzip', 'apk', 'tar.gz', 'tar.xz', 'pack'] as const;

function ossError(res: ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message.replace(/[<&]/g, ' ')}</Message></Error>\n`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export class OtaUploads implements HttpRoute {
  private readonly key = randomBytes(32);

  constructor(
    private readonly catalog: OtaCatalog,
    private readonly baseUrl: () => string | undefined,
    private readonly now: () => number,
    private readonly maxBytes = MAX_UPLOAD_BYTES,
  ) {}

  private host(): string {
    return `${this.baseUrl() ?? 'http://127.0.0.1'}${UPLOAD_PATH}`;
  }

  /** GenerateOTAUploadURL's Data. */
  generate(suffix: string): Record<string, string> {
    const slot = this.catalog.newSlot(suffix, SLOT_TTL_SECONDS);
    const policy = Buffer.from(
      JSON.stringify({ expiration: new Date(slot.expiresAt).toISOString(), conditions: [{ key: slot.key }, ['content-length-range', 0, this.maxBytes]] }),
    ).toString('base64');
    return {
      Key: slot.key,
      Host: this.host(),
      Policy: policy,
      OSSAccessKeyId: ACCESS_KEY_ID,
      Signature: this.sign(policy),
      ObjectStorage: 'OSS',
      FirmwareUrl: `${this.host()}/${slot.key}`,
      UtcCreate: utcNow(this.now()),
    };
  }

  /** The simulator's shortcut for tests and the demo: stores bytes as if uploaded, returns their FirmwareUrl. */
  put(body: Buffer, suffix = 'bin'): string {
    const slot = this.catalog.newSlot(suffix, SLOT_TTL_SECONDS);
    return this.catalog.completeUpload(slot.key, body, `${this.host()}/${slot.key}`);
  }

  matches(method: string, path: string): boolean {
    return method === 'POST' && path === UPLOAD_PATH;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: Buffer;
    try {
      body = await readBody(req, this.maxBytes + 64 * 1024);
    } catch (e) {
      if (e instanceof BodyTooLarge) return ossError(res, 413, 'EntityTooLarge', `the file exceeds ${this.maxBytes} bytes`);
      throw e;
    }
    let form: FormData;
    try {
      form = await new Request('http://upload/', { method: 'POST', headers: { 'content-type': req.headers['content-type'] ?? '' }, body }).formData();
    } catch {
      return ossError(res, 400, 'InvalidArgument', 'expected a multipart/form-data body');
    }
    const field = (n: string) => {
      const v = form.get(n) ?? form.get(n.toLowerCase());
      return typeof v === 'string' ? v : undefined;
    };
    const key = field('key');
    const policy = field('policy');
    const signature = field('Signature');
    const file = form.get('file');
    if (!key || !policy || !signature || field('OSSAccessKeyId') !== ACCESS_KEY_ID) {
      return ossError(res, 400, 'InvalidArgument', 'expected the form fields key, policy, OSSAccessKeyId and Signature from GenerateOTAUploadURL');
    }
    const want = Buffer.from(this.sign(policy));
    const given = Buffer.from(signature);
    if (want.length !== given.length || !timingSafeEqual(want, given)) return ossError(res, 403, 'SignatureDoesNotMatch', 'the policy signature does not match');
    const slot = this.catalog.slot(key);
    if (!slot || !this.policyNamesKey(policy, key)) return ossError(res, 403, 'AccessDenied', `the key ${key} is not an open upload slot (expired or used)`);
    if (!(file instanceof Blob)) return ossError(res, 400, 'InvalidArgument', 'expected a file field');
    const bytes = Buffer.from(await file.arrayBuffer());
    this.catalog.completeUpload(key, bytes, `${this.host()}/${key}`);
    const status = Number(field('success_action_status') ?? 204);
    res.writeHead([200, 201, 204].includes(status) ? status : 204, { 'content-length': 0 });
    res.end();
  }

  private policyNamesKey(policy: string, key: string): boolean {
    try {
      const p = JSON.parse(Buffer.from(policy, 'base64').toString('utf8')) as { expiration?: string; conditions?: unknown[] };
      const notExpired = p.expiration !== undefined && Date.parse(p.expiration) >= this.now();
      return notExpired && (p.conditions ?? []).some((c) => typeof c === 'object' && c !== null && (c as { key?: string }).key === key);
    } catch {
      return false;
    }
  }

  private sign(policy: string): string {
    return createHmac('sha1', this.key).update(policy).digest('base64');
  }
}
