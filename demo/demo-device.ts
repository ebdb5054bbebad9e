/**
 * A minimal device for the demo, on raw MQTT.js: answers property sets with set_reply 200 (then posts the new
 * values), async services with `{id}_reply`, sync services and raw RRPC on the RRPC response topic, echoes
 * `/user/echo` on `/user/echo/reply` (as the example plugin does under MQTT 3.1.1), and posts a few readings when
 * it connects, and takes OTA updates (informs 1.4.2, downloads a notice's file, checks its digest, reports
 * progress and informs the new version). The demo's default device is the real agent (demo.ts); this one is the
 * canned alternative.
 */
import { createHash } from 'node:crypto';
import { connect, MqttClient } from 'mqtt';
import { AlinkCodes } from '../thing-model/codes';
import { AlinkMethods, buildCredentials, deviceTopics, eventMethod, extRrpcFilter, otaTopics, OtaStep, parseTopic, serviceIdOf } from '../thing-model/wire';

export interface DemoDeviceInfo {
  mqttUrl: string;
  productKey: string;
  deviceName: string;
  deviceSecret: string;
  tslPath: string;
  /** A sub-device product in the simulator's config, and its devices (a gateway device speaks for them). */
  subProduct?: { productKey: string; tslPath: string };
  subDevices?: { deviceName: string; deviceSecret: string }[];
}

export interface RunningDevice {
  stop(): Promise<void>;
  /** True when the device takes OTA updates: the demo then runs its OTA step (demo/ota-step.ts). */
  ota?: boolean;
  /** The sub-devices the device speaks for as a gateway: the demo then runs its gateway step (demo/gateway-step.ts). */
  gateway?: { subProductKey: string; subDevices: readonly string[] };
}

/** The demo device's OTA: download the notice's file, check its SHA-256, report progress, inform the new version. */
async function takeUpdate(client: MqttClient, topics: ReturnType<typeof otaTopics>, payload: Buffer, log: (line: string) => void): Promise<void> {
  const notice = JSON.parse(payload.toString('utf8')) as { data?: { url?: string; sign?: string; version?: string } };
  const progress = (step: number, desc = '') => client.publishAsync(topics.progress, JSON.stringify({ id: String(Date.now()), params: { step: String(step), desc } }));
  const { url, sign, version } = notice.data ?? {};
  if (!url || !sign || !version) return void (await progress(OtaStep.UPGRADE_FAILED, 'notice without url, sign or version'));
  const res = await fetch(url);
  const body = Buffer.from(await res.arrayBuffer());
  await progress(50, 'downloaded');
  if (!res.ok || createHash('sha256').update(body).digest('hex') !== sign.toLowerCase()) return void (await progress(OtaStep.VERIFY_FAILED, 'digest mismatch'));
  log(`device: OTA ${version} downloaded (${body.length} bytes) and verified`);
  // An install takes a moment: long enough for the demo's polling to show the task in progress.
  await new Promise((r) => setTimeout(r, 500));
  await progress(100, 'installed');
  await client.publishAsync(topics.inform, JSON.stringify({ id: String(Date.now()), params: { version } }));
}

/** Canned outputs for the example TSL's services. */
function serviceOutput(serviceId: string, params: Record<string, unknown>): Record<string, unknown> {
  switch (serviceId) {
    case 'Calibrate':
      return { Success: 1, Offset: 0.25, CalibratedAt: String(Date.now()), Message: `calibrated against ${String(params.ReferenceValue)}` };
    case 'ReadChannels':
      return { Readings: (Array.isArray(params.Channels) ? params.Channels : []).map((c) => ({ ChannelId: c, Value: 21.5 })) };
    case 'ExportLogs':
      return { Location: 'oss://demo/logs.tgz', Lines: 42 };
    default:
      return {};
  }
}

export async function startDemoDevice(info: DemoDeviceInfo, log: (line: string) => void = () => undefined): Promise<RunningDevice> {
  const id = { productKey: info.productKey, deviceName: info.deviceName };
  const topics = deviceTopics(id);
  const creds = buildCredentials({
    ...id,
    deviceSecret: info.deviceSecret,
    signMethod: 'hmacsha256',
    secureMode: 3,
    timestamp: Date.now(),
    extra: { ext: '1' },
  });
  const client: MqttClient = connect(info.mqttUrl, { ...creds, clean: false, keepalive: 60, reconnectPeriod: 1000 });
  let nextId = 1;
  const publish = (topic: string, body: unknown) => client.publish(topic, typeof body === 'string' ? body : JSON.stringify(body), { qos: 0 });
  const post = (params: Record<string, unknown>) =>
    publish(topics.propertyPost, { id: String(nextId++), version: '1.0', params, method: AlinkMethods.PROPERTY_POST });

  const ota = otaTopics(id);
  client.on('message', (topic, payload) => {
    if (topic === ota.upgrade) {
      takeUpdate(client, ota, payload, log).catch((e: Error) => log(`device: OTA failed: ${e.message}`));
      return;
    }
    const kind = parseTopic(topic);
    let req: { id?: string; params?: Record<string, unknown>; method?: string } | undefined;
    try {
      req = JSON.parse(payload.toString('utf8')) as typeof req;
    } catch {
      req = undefined;
    }
    switch (kind.kind) {
      case 'propertySet':
        log(`device: property set ${JSON.stringify(req?.params)}`);
        publish(topics.propertySetReply, { id: req?.id, code: AlinkCodes.SUCCESS, data: {} });
        if (req?.params) post(req.params);
        return;
      case 'service':
        log(`device: async service ${kind.serviceId} ${JSON.stringify(req?.params)}`);
        publish(topics.serviceReply(kind.serviceId), { id: req?.id, code: AlinkCodes.SUCCESS, data: serviceOutput(kind.serviceId, req?.params ?? {}) });
        // A canned reboot is over at once; the device reports it as the example plugin does.
        if (kind.serviceId === 'Reboot') {
          publish(topics.eventPost('BootCompleted'), { id: String(nextId++), version: '1.0', params: { value: { Reason: 2, FirmwareVersion: '1.4.2' } }, method: eventMethod('BootCompleted') });
        }
        return;
      case 'rrpcRequest': {
        const method = req?.method ?? '';
        const serviceId = serviceIdOf(method);
        if (serviceId !== undefined) {
          log(`device: sync service ${serviceId} ${JSON.stringify(req?.params)}`);
          publish(topics.rrpcResponse(kind.messageId), { id: req?.id, code: AlinkCodes.SUCCESS, data: serviceOutput(serviceId, req?.params ?? {}) });
        } else {
          log(`device: raw RRPC ${payload.toString('utf8')}`);
          publish(topics.rrpcResponse(kind.messageId), { echo: payload.toString('utf8'), at: Date.now() });
        }
        return;
      }
      case 'extRrpc': {
        // ext=1: sync services arrive as /ext/rrpc/{id}/sys/{pk}/{dn}/thing/service/{id}, answered on that topic.
        const service = parseTopic(kind.customTopic);
        if (service.kind === 'service') publish(topic, { id: req?.id, code: AlinkCodes.SUCCESS, data: serviceOutput(service.serviceId, req?.params ?? {}) });
        else publish(topic, payload.toString('utf8'));
        return;
      }
      default:
        log(`device: message on ${topic}: ${payload.toString('utf8')}`);
        if (topic === `${topics.userPrefix}echo`) client.publish(`${topics.userPrefix}echo/reply`, payload, { qos: 0 });
    }
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    client.once('error', onError);
    client.once('connect', () => {
      client.off('error', onError);
      resolve();
    });
  });
  client.on('error', (e) => log(`device: MQTT error ${e.message}`));
  await client.subscribeAsync({
    [topics.propertySet]: { qos: 1 },
    [topics.serviceFilter]: { qos: 1 },
    [topics.rrpcRequestFilter]: { qos: 0 },
    [extRrpcFilter(topics.serviceFilter)]: { qos: 0 },
    [`${topics.userPrefix}#`]: { qos: 0 },
    [ota.upgrade]: { qos: 1 },
  });
  client.publish(ota.inform, JSON.stringify({ id: String(nextId++), params: { version: '1.4.2' } }), { qos: 1 });
  post({ Temperature: 21.5, Humidity: 48.25, PM25: 12, FirmwareVersion: '1.4.2', ReportInterval: 60, WorkMode: 1 });
  return { stop: () => client.endAsync().then(() => undefined), ota: true };
}
