/**
 * SaveDeviceProp, QueryDeviceProp and DeleteDeviceProp (docs/protocol/tags.md, "Cloud actions"): the device tags
 * devices post with `thing.deviceinfo.update`. `Props` is a JSON object text of at most 5 KB and 100 tags; keys
 * follow the same rule as the device side; the key `abc` is reserved on the platform.
 */
import { ApiErrors } from '../errors';
import { MAX_DEVICE_TAGS_PER_UPDATE, TAG_KEY_RE, tagValueProblem } from '../mqtt/tags';
import { deviceNameSchema, iotIdSchema, jsonObjectParam, optionalText, productKeySchema, resolveDevice } from './common';
import type { ApiAction } from './types';

interface DeviceParams {
  IotId?: string;
  ProductKey?: string;
  DeviceName?: string;
  IotInstanceId?: string;
}

const device = { IotId: iotIdSchema, ProductKey: productKeySchema, DeviceName: deviceNameSchema, IotInstanceId: optionalText(128) };
const MAX_PROPS_PER_CALL = 100;

export const saveDeviceProp: ApiAction<DeviceParams & { Props: string }> = {
  name: 'SaveDeviceProp',
  schema: { type: 'object', required: ['Props'], properties: { ...device, Props: { type: 'string', minLength: 2, maxLength: 5120, expected: 'a JSON object of tags, at most 5 KB' } } },
  async handle(p, deps) {
    const d = resolveDevice(deps.registry, p);
    const props = jsonObjectParam('Props', p.Props);
    const entries = Object.entries(props);
    if (entries.length === 0 || entries.length > Math.min(MAX_PROPS_PER_CALL, MAX_DEVICE_TAGS_PER_UPDATE)) {
      throw ApiErrors.invalidParameter('Props', `1..${MAX_PROPS_PER_CALL} tags`, `${entries.length} tags`);
    }
    for (const [k, v] of entries) {
      if (!TAG_KEY_RE.test(k) || k === 'abc') throw ApiErrors.invalidParameter(`Props.${k}`, 'a tag key of 2..30 letters, digits, _ - . not starting with a digit (abc is reserved)', k);
      const problem = tagValueProblem(v);
      if (problem) throw ApiErrors.invalidParameter(`Props.${k}`, problem.replace(/^expected /, ''), v);
    }
    const current = deps.platform.channels.tags.of(d);
    if (Object.keys({ ...current, ...props }).length > MAX_PROPS_PER_CALL) throw ApiErrors.invalidParameter('Props', `at most ${MAX_PROPS_PER_CALL} tags per device`, `${entries.length} more`);
    deps.platform.channels.tags.save(d, props as Record<string, string>);
    return {};
  },
};

export const queryDeviceProp: ApiAction<DeviceParams> = {
  name: 'QueryDeviceProp',
  schema: { type: 'object', properties: device },
  async handle(p, deps) {
    const d = resolveDevice(deps.registry, p);
    return { Props: JSON.stringify(deps.platform.channels.tags.of(d)) };
  },
};

export const deleteDeviceProp: ApiAction<DeviceParams & { PropKey: string }> = {
  name: 'DeleteDeviceProp',
  schema: { type: 'object', required: ['PropKey'], properties: { ...device, PropKey: { type: 'string', minLength: 1, maxLength: 64, expected: 'a tag key' } } },
  async handle(p, deps) {
    const d = resolveDevice(deps.registry, p);
    deps.platform.channels.tags.remove(d, [p.PropKey]);
    return {};
  },
};
