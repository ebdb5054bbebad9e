/**
 * The topology actions (docs/protocol/gateway-platform.md, "Cloud actions"): BatchAddThingTopo (all or nothing,
 * signs as in topo/add), GetThingTopo (paged, `List.deviceInfo`), RemoveThingTopo (a gateway: all its
 * sub-devices; a sub-device: its binding), both told to the gateway on `topo/change`, and GetGatewayBySubDevice.
 */
import { ApiErrors } from '../errors';
import type { DeviceRecord } from '../registry';
import { DeviceParams, deviceNameSchema, deviceProps, iotIdSchema, optionalText, productKeySchema, resolveDevice } from './common';
import type { ApiAction, ApiDeps } from './types';


function gatewayDevice(deps: ApiDeps, d: DeviceRecord): DeviceRecord {
  if (deps.registry.product(d.productKey)?.nodeType !== 'gateway') throw ApiErrors.notGateway(`${d.productKey}/${d.deviceName}`);
  return d;
}

export const batchAddThingTopo: ApiAction<{ GwProductKey: string; GwDeviceName: string; TopoAddItem: Record<string, string>[]; IotInstanceId?: string }> = {
  name: 'BatchAddThingTopo',
  lists: ['TopoAddItem'],
  schema: {
    type: 'object',
    required: ['GwProductKey', 'GwDeviceName', 'TopoAddItem'],
    properties: {
      GwProductKey: productKeySchema,
      GwDeviceName: deviceNameSchema,
      IotInstanceId: optionalText(128),
      TopoAddItem: {
        type: 'array',
        minItems: 1,
        maxItems: 10,
        expected: 'a list TopoAddItem.1 .. TopoAddItem.N of 1..10 sub-devices',
        items: {
          type: 'object',
          required: ['ProductKey', 'DeviceName', 'Sign', 'SignMethod'],
          expected: 'TopoAddItem.N.{ProductKey, DeviceName, Sign, SignMethod, Timestamp?, ClientId?}',
          properties: {
            ProductKey: productKeySchema,
            DeviceName: deviceNameSchema,
            Sign: { type: 'string', minLength: 1, maxLength: 128, expected: 'a hex HMAC' },
            SignMethod: { type: 'string', minLength: 1, maxLength: 16, expected: 'hmacSha1, hmacSha256 or hmacMd5' },
            Timestamp: { type: 'string', maxLength: 32, expected: 'epoch ms' },
            ClientId: { type: 'string', maxLength: 128, expected: 'a client id' },
          },
        },
      },
    },
  },
  async handle(p, deps) {
    const gw = gatewayDevice(deps, resolveDevice(deps.registry, { ProductKey: p.GwProductKey, DeviceName: p.GwDeviceName }));
    // The API's items carry the same signed fields as topo/add, with the wire's capitalised names.
    const items = p.TopoAddItem.map((t) => ({
      productKey: t.ProductKey,
      deviceName: t.DeviceName,
      sign: t.Sign,
      signmethod: t.SignMethod,
      ...(t.Timestamp !== undefined ? { timestamp: t.Timestamp } : {}),
      ...(t.ClientId !== undefined ? { clientId: t.ClientId } : {}),
    }));
    const subs = p.TopoAddItem.map((t) => ({ productKey: t.ProductKey!, deviceName: t.DeviceName! }));
    const before = subs.map((sub) => deps.platform.gateways.gatewayOf(sub));
    const fail = deps.platform.gatewayChannel.addTopologyAll(gw, items);
    if (fail) throw ApiErrors.topoAddFailed(fail.item, fail.code, fail.message);
    // The result is pushed to the gateway on topo/change [DOC].
    await deps.platform.lifecycle.topologyAdded(gw, subs, before);
    return {};
  },
};

export const getThingTopo: ApiAction<DeviceParams & { PageNo: number; PageSize: number }> = {
  name: 'GetThingTopo',
  schema: {
    type: 'object',
    required: ['PageNo', 'PageSize'],
    properties: {
      ...deviceProps,
      PageNo: { type: 'integer', minimum: 1, maximum: 1_000_000, expected: 'a page number from 1' },
      PageSize: { type: 'integer', minimum: 1, maximum: 50, expected: 'a page size 1..50' },
    },
  },
  async handle(p, deps) {
    const gw = gatewayDevice(deps, resolveDevice(deps.registry, p));
    const all = deps.platform.gateways.subDevicesOf(gw);
    const page = all.slice((p.PageNo - 1) * p.PageSize, p.PageNo * p.PageSize);
    const deviceInfo = page.map((d) => ({ ProductKey: d.productKey, DeviceName: d.deviceName, IotId: deps.registry.device(d.productKey, d.deviceName)?.iotId }));
    return { Data: { CurrentPage: p.PageNo, PageSize: p.PageSize, Total: all.length, PageCount: Math.ceil(all.length / p.PageSize), List: { deviceInfo } } };
  },
};

export const removeThingTopo: ApiAction<DeviceParams> = {
  name: 'RemoveThingTopo',
  schema: { type: 'object', properties: deviceProps },
  async handle(p, deps) {
    await deps.platform.lifecycle.removeTopology(resolveDevice(deps.registry, p));
    return { Data: true };
  },
};

export const getGatewayBySubDevice: ApiAction<DeviceParams> = {
  name: 'GetGatewayBySubDevice',
  schema: { type: 'object', properties: deviceProps },
  async handle(p, deps) {
    const sub = resolveDevice(deps.registry, p);
    const gwId = deps.platform.gateways.gatewayOf(sub);
    const gw = gwId && deps.registry.device(gwId.productKey, gwId.deviceName);
    if (!gw) throw ApiErrors.notSubDevice(`${sub.productKey}/${sub.deviceName}`);
    const s = deps.platform.status(gw);
    return { Data: { ProductKey: gw.productKey, DeviceName: gw.deviceName, DeviceSecret: gw.deviceSecret, iotId: gw.iotId, NodeType: 1, Status: s.status } };
  },
};

export const notifyAddThingTopo: ApiAction<{ GwProductKey?: string; GwDeviceName?: string; GwIotId?: string; DeviceListStr: string; IotInstanceId?: string }> = {
  name: 'NotifyAddThingTopo',
  schema: {
    type: 'object',
    required: ['DeviceListStr'],
    properties: {
      GwProductKey: productKeySchema,
      GwDeviceName: deviceNameSchema,
      GwIotId: iotIdSchema,
      DeviceListStr: { type: 'string', minLength: 2, maxLength: 65536, expected: 'a JSON list [{"productKey","deviceName"} or {"IotId"}]' },
      IotInstanceId: optionalText(128),
    },
  },
  async handle(p, deps) {
    const gw = gatewayDevice(deps, resolveDevice(deps.registry, { IotId: p.GwIotId, ProductKey: p.GwProductKey, DeviceName: p.GwDeviceName }));
    let list: unknown;
    try {
      list = JSON.parse(p.DeviceListStr);
    } catch {
      list = undefined;
    }
    if (!Array.isArray(list) || list.length === 0) throw ApiErrors.invalidParameter('DeviceListStr', 'a non-empty JSON list', p.DeviceListStr);
    const subs = list.map((e: { productKey?: string; deviceName?: string; IotId?: string }) => resolveDevice(deps.registry, { IotId: e.IotId, ProductKey: e.productKey, DeviceName: e.deviceName }));
    // Success means sent, not added: the gateway answers with its own topo/add [DOC].
    return { Data: { MessageId: await deps.platform.gatewayChannel.notifyAdd(gw, subs) } };
  },
};
