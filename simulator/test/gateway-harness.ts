/**
 * Shared pieces of the gateway suites: a simulator with the example gateway product (gw-001 .. gw-00N) and a
 * sub-device product (sensor-01 .. sensor-0M), sub-device signs as the official SDKs send them, and a raw MQTT.js
 * gateway's request/reply on its own topics.
 */
import { createHmac } from 'node:crypto';
import * as $Iot from '@alicloud/iot20180120';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { BrokerMode, nextMessage, PK, startSim, testConfig } from './harness';

export const SUB_PK = 'a1SubDemo01';
export const SUB_SECRET = '9c1f4e2a7b3d4c5e8f60718293a4b5c6';
/** The product secret of the registration-by-product vector (docs/protocol/gateway-platform.md, "Registration"). */
export const SUB_PRODUCT_SECRET = 'ProductSecretDemo';
/** The gateway topics of gw-NNN. */
export const gwSys = (dn = 'gw-001') => `/sys/${PK}/${dn}`;
export const gwSession = (dn = 'gw-001') => `/ext/session/${PK}/${dn}`;

/**
 * A simulator whose `a1GwDemo01` product is a gateway, with `subs` sub-devices of `a1SubDemo01` (dynamic
 * registration on, product secret SUB_PRODUCT_SECRET).
 */
export function startGatewaySim(mode: BrokerMode, subs = 3, gateways = 2) {
  const base = testConfig({ mqtt: { mode } }, gateways);
  return startSim({
    ...base,
    products: [
      { productKey: PK, tsl: join(__dirname, '..', 'tsl', 'example-gateway.json'), nodeType: 'gateway' },
      { productKey: SUB_PK, tsl: join(__dirname, '..', 'tsl', 'example-sensor.json'), nodeType: 'sub', dynamicRegistration: true, productSecret: SUB_PRODUCT_SECRET },
    ],
    devices: [
      ...(base.devices ?? []),
      ...Array.from({ length: subs }, (_, i) => ({ productKey: SUB_PK, deviceName: `sensor-0${i + 1}`, deviceSecret: SUB_SECRET })),
    ] as never,
  });
}

/** A sub-device's signed item for topo/add, login and batch login (docs/protocol/gateway-platform.md, "Signing"). */
export function signed(dn: string, method: 'hmacSha1' | 'hmacSha256' | 'hmacMd5', key: 'signmethod' | 'signMethod', extra: Record<string, string> = {}, secret = SUB_SECRET) {
  const ts = String(Date.now());
  const clientId = `${SUB_PK}.${dn}`;
  const hash = { hmacSha1: 'sha1', hmacSha256: 'sha256', hmacMd5: 'md5' }[method];
  const sign = createHmac(hash, secret).update(`clientId${clientId}deviceName${dn}productKey${SUB_PK}timestamp${ts}`).digest('hex');
  return { productKey: SUB_PK, deviceName: dn, clientId, timestamp: ts, [key]: method, sign, ...extra };
}

/** A BatchAddThingTopo item for a sub-device, signed as topo/add is (`sign` replaces the signature). */
export function topoAddItem(dn: string, sign?: string): $Iot.BatchAddThingTopoRequestTopoAddItem {
  const v = signed(dn, 'hmacSha256', 'signmethod');
  return new $Iot.BatchAddThingTopoRequestTopoAddItem({ productKey: SUB_PK, deviceName: dn, clientId: v.clientId, timestamp: v.timestamp, signMethod: 'hmacSha256', sign: sign ?? v.sign });
}

export interface GatewayReply {
  id: string;
  code: number;
  data: unknown;
  message: string;
}

/** Publishes a request on one of the gateway's topics and resolves with its `_reply` (same id). */
export function gatewayRequester(gw: () => MqttClient) {
  let seq = 0;
  return async (topic: string, params: unknown, method?: string): Promise<GatewayReply> => {
    const id = String(++seq);
    const reply = nextMessage(gw(), (t) => t === `${topic}_reply`);
    await gw().publishAsync(topic, JSON.stringify({ id, version: '1.0', params, ...(method ? { method } : {}) }));
    const r = JSON.parse((await reply).payload.toString()) as GatewayReply;
    expect(r.id).toBe(id);
    return r;
  };
}
