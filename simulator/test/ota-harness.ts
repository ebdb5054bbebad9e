/**
 * Pieces of the OTA tests: a test device over raw MQTT.js that speaks the device side of OTA (inform, progress,
 * pull, block download, notices), HTTP downloads, and SDK shortcuts (a package from bytes, polling a task's state).
 */
import * as $Iot from '@alicloud/iot20180120';
import type Iot from '@alicloud/iot20180120';
import type { MqttClient } from 'mqtt';
import { request } from 'node:http';
import { crc16 } from '../ota/file-download';
import type { CloudSimulator } from '../cloud-simulator';
import { connectDevice, nextMessage, PK, sleep } from './harness';

export interface Notice {
  code: string;
  id: number;
  message: string;
  data: Record<string, unknown> & { url?: string; files?: { fileName: string; fileSize: number; fileUrl?: string; streamFileId?: number; fileSign: string }[] };
}

/** One device's OTA side, by hand. */
export class OtaTestDevice {
  private constructor(
    readonly client: MqttClient,
    readonly deviceName: string,
  ) {}

  static async connect(mqttUrl: string, deviceName: string): Promise<OtaTestDevice> {
    const client = await connectDevice(mqttUrl, { deviceName });
    const sys = `/sys/${PK}/${deviceName}`;
    await client.subscribeAsync([`/ota/device/upgrade/${PK}/${deviceName}`, `${sys}/thing/ota/firmware/get_reply`, `${sys}/thing/file/download_reply`], { qos: 1 });
    return new OtaTestDevice(client, deviceName);
  }

  private publish(topic: string, body: unknown): Promise<unknown> {
    return this.client.publishAsync(topic, typeof body === 'string' ? body : JSON.stringify(body), { qos: 1 });
  }

  /** Numeric ids, no method or version: as the C and Python SDKs send these. */
  inform(version: string, module?: string): Promise<unknown> {
    return this.publish(`/ota/device/inform/${PK}/${this.deviceName}`, { id: 1, params: { version, ...(module ? { module } : {}) } });
  }

  progress(step: number | string, desc = '', module?: string): Promise<unknown> {
    return this.publish(`/ota/device/progress/${PK}/${this.deviceName}`, { id: '7', params: { step: String(step), desc, ...(module ? { module } : {}) } });
  }

  nextNotice(ms = 3000): Promise<Notice> {
    return nextMessage(this.client, (t) => t.startsWith('/ota/device/upgrade/'), ms).then((m) => JSON.parse(m.payload.toString()) as Notice);
  }

  /** `thing.ota.firmware.get`; resolves with the reply. */
  async pull(module?: string): Promise<{ id: unknown; code: number; data: Notice['data'] }> {
    const reply = nextMessage(this.client, (t) => t.endsWith('/thing/ota/firmware/get_reply'));
    await this.publish(`/sys/${PK}/${this.deviceName}/thing/ota/firmware/get`, { id: '42', version: '1.0', params: module ? { module } : {}, method: 'thing.ota.firmware.get' });
    return JSON.parse((await reply).payload.toString()) as { id: unknown; code: number; data: Notice['data'] };
  }

  /** One block over MQTT, sent as LinkSDK writes it (a trailing comma after fileId); checks the CRC. */
  async block(streamId: number, fileId: number, offset: number, size: number): Promise<{ header: Record<string, unknown>; data: Buffer; crcOk: boolean }> {
    const reply = nextMessage(this.client, (t) => t.endsWith('/thing/file/download_reply'));
    const text = `{"id":"1","version":"1.0","params":{"fileToken":"default","fileInfo":{"streamId":${streamId},"fileId":${fileId},},"fileBlock":{"size":${size},"offset":${offset}}}}`;
    await this.publish(`/sys/${PK}/${this.deviceName}/thing/file/download`, text);
    const buf = (await reply).payload;
    const hlen = buf.readUInt16BE(0);
    const header = JSON.parse(buf.subarray(2, 2 + hlen).toString()) as Record<string, unknown>;
    const data = buf.subarray(2 + hlen, buf.length - 2);
    const crcOk = buf.length >= 2 + hlen + 2 && buf.readUInt16LE(buf.length - 2) === crc16(data);
    return { header, data: buf.length > 2 + hlen ? data : Buffer.alloc(0), crcOk };
  }

  /** A whole file over MQTT in blocks of `blockSize`. */
  async downloadMqtt(streamId: number, fileId: number, length: number, blockSize = 5 * 1024): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (let offset = 0; offset < length; ) {
      const b = await this.block(streamId, fileId, offset, blockSize);
      if (b.header.code !== 200 || !b.crcOk) throw new Error(`block at ${offset}: ${JSON.stringify(b.header)}`);
      parts.push(b.data);
      offset += b.data.length;
    }
    return Buffer.concat(parts);
  }

  end(): Promise<void> {
    return this.client.endAsync(true);
  }
}

/** A GET resolving with what arrived, also when the server drops the connection. */
export function httpGet(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer; aborted: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let aborted = false;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('aborted', () => (aborted = true));
      res.on('error', () => (aborted = true));
      res.on('close', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), aborted: aborted || !res.complete }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A package from bytes (uploaded through the simulator's shortcut, created through the SDK); returns its id. */
export async function createPackage(
  client: Iot,
  sim: CloudSimulator,
  opts: { files: Buffer[]; destVersion: string; moduleName?: string; signMethod?: 'MD5' | 'SHA256'; udi?: string; type?: number; srcVersion?: string; productKey?: string },
): Promise<string> {
  const urls = opts.files.map((f) => sim.ota.uploads.put(f));
  const multi = opts.files.length > 1;
  const res = await client.createOTAFirmware(
    new $Iot.CreateOTAFirmwareRequest({
      productKey: opts.productKey ?? PK,
      destVersion: opts.destVersion,
      firmwareName: `fw ${opts.destVersion}`,
      signMethod: opts.signMethod ?? 'SHA256',
      ...(opts.moduleName ? { moduleName: opts.moduleName } : {}),
      ...(opts.udi ? { udi: opts.udi } : {}),
      ...(opts.type !== undefined ? { type: opts.type, srcVersion: opts.srcVersion } : {}),
      ...(multi ? { multiFiles: urls.map((url, i) => new $Iot.CreateOTAFirmwareRequestMultiFiles({ name: `part${i}.bin`, url })) } : { firmwareUrl: urls[0] }),
    }),
  );
  if (!res.body?.success) throw new Error(`CreateOTAFirmware: ${res.body?.code} ${res.body?.errorMessage}`);
  return res.body.data!.firmwareId!;
}

export type TaskInfo = $Iot.ListOTATaskByJobResponseBodyDataSimpleOTATaskInfo;

/** The job's task for one device (through the SDK). */
export async function taskOf(client: Iot, jobId: string, deviceName: string): Promise<TaskInfo | undefined> {
  const res = await client.listOTATaskByJob(new $Iot.ListOTATaskByJobRequest({ jobId, deviceNames: [deviceName], pageSize: 10 }));
  return res.body?.data?.simpleOTATaskInfo?.[0];
}

/** Polls the task until `status` (bounded), and returns it. */
export async function waitTask(client: Iot, jobId: string, deviceName: string, status: string, ms = 5000): Promise<TaskInfo> {
  const until = Date.now() + ms;
  let last: TaskInfo | undefined;
  while (Date.now() < until) {
    last = await taskOf(client, jobId, deviceName);
    if (last?.taskStatus === status) return last;
    await sleep(50);
  }
  throw new Error(`task of ${deviceName} in ${jobId} is ${last?.taskStatus ?? 'absent'}, not ${status}, after ${ms} ms`);
}

export async function staticJob(client: Iot, req: Partial<$Iot.CreateOTAStaticUpgradeJobRequest> & { firmwareId: string }): Promise<string> {
  const res = await client.createOTAStaticUpgradeJob(new $Iot.CreateOTAStaticUpgradeJobRequest({ productKey: PK, targetSelection: 'SPECIFIC', ...req }));
  if (!res.body?.success) throw new Error(`CreateOTAStaticUpgradeJob: ${res.body?.code} ${res.body?.errorMessage}`);
  return res.body.data!.jobId!;
}
