/**
 * CreateThingScript, UpdateThingScript and GetThingScript (docs/protocol/raw-data.md, "Cloud actions"): a
 * custom-format product's parse script. The script is loaded in its sandbox before the call returns; one that
 * is empty, does not compile or lacks `rawDataToProtocol`/`protocolToRawData` is refused with
 * `iot.script.ScriptRunFailed` carrying 26001, 26002 or 26006. GetThingScript answers a signed, expiring URL
 * of the content, served by the simulator's HTTP listener (`/files/...`), as the platform answers an OSS URL.
 */
import { optionalText, productKeySchema } from './common';
import type { ApiAction } from './types';

export interface ThingScriptParams {
  ProductKey: string;
  ScriptContent: string;
  ScriptType: string;
  IotInstanceId?: string;
}

const scriptSchema = {
  type: 'object',
  required: ['ProductKey', 'ScriptContent', 'ScriptType'],
  properties: {
    ProductKey: productKeySchema,
    ScriptContent: { type: 'string', maxLength: 262_144, expected: 'the script text (at most 256 KiB)' },
    ScriptType: { type: 'string', enum: ['JavaScript', 'Python_27', 'PHP_72'], expected: 'JavaScript, Python_27 or PHP_72' },
    IotInstanceId: optionalText(128),
  },
};

export const createThingScript: ApiAction<ThingScriptParams> = {
  name: 'CreateThingScript',
  schema: scriptSchema,
  async handle(p, deps) {
    await deps.platform.channels.scripts.set(p.ProductKey, p.ScriptType, p.ScriptContent, false);
    return {};
  },
};

export const updateThingScript: ApiAction<ThingScriptParams> = {
  name: 'UpdateThingScript',
  schema: scriptSchema,
  async handle(p, deps) {
    await deps.platform.channels.scripts.set(p.ProductKey, p.ScriptType, p.ScriptContent, true);
    return {};
  },
};

export const getThingScript: ApiAction<{ ProductKey: string }> = {
  name: 'GetThingScript',
  schema: { type: 'object', required: ['ProductKey'], properties: { ProductKey: productKeySchema, IotInstanceId: optionalText(128) } },
  async handle(p, deps) {
    return { Data: deps.platform.channels.scripts.describe(p.ProductKey) };
  },
};
