/**
 * The demo's OTA step (docs/protocol/ota-platform.md): a package uploaded and created through the official SDK,
 * a static job for the demo's device, then the task followed through the SDK — its progress as the device reports
 * it, and SUCCEEDED once the device informs the new version.
 */
import * as $Iot from '@alicloud/iot20180120';
import type Iot from '@alicloud/iot20180120';
import { createHash } from 'node:crypto';

export interface OtaStepContext {
  client: Iot;
  productKey: string;
  deviceName: string;
  print(line: string): void;
  show(name: string, body: unknown, ok: boolean): void;
}

/** The version the demo's package carries. */
export const DEMO_OTA_VERSION = '2.0.0';
const STEP_TIMEOUT_MS = 15_000;

export async function runOtaStep(c: OtaStepContext): Promise<void> {
  const firmware = Buffer.from(`demo firmware ${DEMO_OTA_VERSION}\n`.repeat(4096));
  const gen = await c.client.generateOTAUploadURL(new $Iot.GenerateOTAUploadURLRequest({ fileSuffix: 'bin' }));
  const slot = gen.body?.data;
  const form = new FormData();
  for (const [k, v] of Object.entries({ key: slot?.key, policy: slot?.policy, OSSAccessKeyId: slot?.OSSAccessKeyId, Signature: slot?.signature })) form.set(k, v ?? '');
  form.set('file', new Blob([firmware]), 'demo.bin');
  const uploaded = slot?.host ? await fetch(slot.host, { method: 'POST', body: form }) : undefined;
  c.show('GenerateOTAUploadURL + upload', { status: uploaded?.status, firmwareUrl: slot?.firmwareUrl }, uploaded?.status === 204);

  const sign = createHash('sha256').update(firmware).digest('hex');
  const created = await c.client.createOTAFirmware(
    new $Iot.CreateOTAFirmwareRequest({ productKey: c.productKey, destVersion: DEMO_OTA_VERSION, firmwareName: 'demo firmware', firmwareUrl: slot?.firmwareUrl, signMethod: 'SHA256', firmwareSign: sign }),
  );
  const firmwareId = created.body?.data?.firmwareId;
  c.show('CreateOTAFirmware (SHA256)', created.body, created.body?.success === true);
  if (!firmwareId) return;

  const job = await c.client.createOTAStaticUpgradeJob(
    new $Iot.CreateOTAStaticUpgradeJobRequest({ productKey: c.productKey, firmwareId, targetSelection: 'SPECIFIC', targetDeviceName: [c.deviceName], timeoutInMinutes: 5 }),
  );
  const jobId = job.body?.data?.jobId;
  c.show('CreateOTAStaticUpgradeJob', job.body, job.body?.success === true);
  if (!jobId) return;

  // Follow the task as the device moves it; print each state (and progress) once.
  const seen: string[] = [];
  const until = Date.now() + STEP_TIMEOUT_MS;
  let status = '';
  while (Date.now() < until && status !== 'SUCCEEDED' && status !== 'FAILED') {
    const list = await c.client.listOTATaskByJob(new $Iot.ListOTATaskByJobRequest({ jobId, deviceNames: [c.deviceName] }));
    const task = list.body?.data?.simpleOTATaskInfo?.[0];
    status = task?.taskStatus ?? '';
    const state = `${status} ${task?.progress ?? ''}%`;
    if (task && seen[seen.length - 1] !== state) {
      seen.push(state);
      c.print(`  task ${state}${task.taskDesc ? ` (${task.taskDesc})` : ''}`);
    }
    if (status !== 'SUCCEEDED' && status !== 'FAILED') await new Promise((r) => setTimeout(r, 100));
  }
  c.show('ListOTATaskByJob: the task succeeded', seen, status === 'SUCCEEDED');
  const versions = await c.client.listOTAModuleVersionsByDevice(new $Iot.ListOTAModuleVersionsByDeviceRequest({ productKey: c.productKey, deviceName: c.deviceName }));
  const modules = (versions.body?.data?.simpleOTAModuleInfo ?? []).map((m) => `${m.moduleName}=${m.moduleVersion}`);
  c.show('ListOTAModuleVersionsByDevice', modules, modules.includes(`default=${DEMO_OTA_VERSION}`));
}
