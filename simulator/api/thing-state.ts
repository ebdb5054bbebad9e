/**
 * DisableThing, EnableThing, DeleteDevice and BatchGetDeviceState (docs/protocol/gateway-platform.md, "Cloud
 * actions"). A disabled or deleted sub-device is logged out and its gateway told; BatchGetDeviceState answers
 * DISABLE for a disabled device.
 */
import { DeviceParams, deviceNameListSchema, deviceProps, findDevices, iotIdSchema, optionalText, productKeySchema, resolveDevice } from './common';
import { ApiErrors } from '../errors';
import type { ApiAction, ApiDeps } from './types';


async function setEnabled(p: DeviceParams, deps: ApiDeps, enabled: boolean): Promise<Record<string, unknown>> {
  await deps.platform.lifecycle.setEnabled(resolveDevice(deps.registry, p), enabled);
  return {};
}

export const disableThing: ApiAction<DeviceParams> = {
  name: 'DisableThing',
  schema: { type: 'object', properties: deviceProps },
  handle: (p, deps) => setEnabled(p, deps, false),
};

export const enableThing: ApiAction<DeviceParams> = {
  name: 'EnableThing',
  schema: { type: 'object', properties: deviceProps },
  handle: (p, deps) => setEnabled(p, deps, true),
};

/** An unknown device answers iot.device.NotExistedDevice, as every action naming a device does. */
export const deleteDevice: ApiAction<DeviceParams> = {
  name: 'DeleteDevice',
  schema: { type: 'object', properties: deviceProps },
  async handle(p, deps) {
    await deps.platform.lifecycle.remove(resolveDevice(deps.registry, p));
    return {};
  },
};

export const batchGetDeviceState: ApiAction<{ ProductKey?: string; DeviceName?: string[]; IotId?: string[]; IotInstanceId?: string }> = {
  name: 'BatchGetDeviceState',
  lists: ['DeviceName', 'IotId'],
  schema: {
    type: 'object',
    properties: {
      ProductKey: productKeySchema,
      DeviceName: { ...deviceNameListSchema, maxItems: 50, expected: 'a list DeviceName.1 .. DeviceName.N of 1..50 device names' },
      IotId: { type: 'array', minItems: 1, maxItems: 50, items: iotIdSchema, expected: 'a list IotId.1 .. IotId.N of 1..50 IotIds' },
      IotInstanceId: optionalText(128),
    },
  },
  async handle(p, deps) {
    let devices;
    if (p.IotId) devices = p.IotId.map((IotId) => resolveDevice(deps.registry, { IotId }));
    else if (p.ProductKey === undefined) throw ApiErrors.missingParameter('ProductKey');
    else if (p.DeviceName === undefined) throw ApiErrors.missingParameter('DeviceName');
    else devices = findDevices(deps.registry, p.ProductKey, p.DeviceName);
    const DeviceStatus = devices.map((d) => {
      const s = deps.platform.status(d);
      return { DeviceName: d.deviceName, IotId: d.iotId, DeviceId: d.iotId, Status: d.disabled ? 'DISABLE' : s.status, ...(s.status === 'ONLINE' ? { LastOnlineTime: new Date(s.at).toISOString() } : {}) };
    });
    return { DeviceStatusList: { DeviceStatus } };
  },
};
