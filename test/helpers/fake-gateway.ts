/**
 * A hand-made plugin context for unit tests of gateway drivers: a fake `GatewayApi` that records every call, keeps the
 * sub-devices' states as the test sets them (telling the driver's `onStateChange` as the agent would), and records each
 * post after checking it against the sub-device product's TSL with the real compiled model. Options go through the
 * loader's own ajv compile (`compileOptions`), so a driver's schema and defaults are the ones the agent applies.
 * No broker, no agent: the end-to-end path is the agent's tests' job.
 */
import Ajv from 'ajv';
import { compileOptions } from '../../agent/plugins/resolve';
import { ValidationError } from '../../thing-model/codes';
import { compileThingModel, loadThingModelFile, type CompiledThingModel } from '../../thing-model';
import type {
  AlinkPlugin,
  CloudReply,
  DeviceIdentity,
  GatewayApi,
  PluginContext,
  PluginInstance,
  PluginState,
  PostHandle,
  StoredReceipt,
  SubDeviceSpec,
  SubDeviceState,
  SubDeviceStatus,
  Upstream,
} from '../../handlers/api';
import { captureLog, type CapturedLog } from '../agent-support';

/** One call a driver made on `ctx.gateway`. */
export type GatewayCall =
  | { op: 'add'; device: DeviceIdentity; deviceSecret?: string }
  | { op: 'remove'; device: DeviceIdentity }
  | { op: 'setReachable'; device: DeviceIdentity; reachable: boolean };

/** One post a driver made for a sub-device, after it passed the product's TSL. */
export interface RecordedPost {
  /** `productKey/deviceName`. */
  device: string;
  kind: 'properties' | 'event';
  event?: string;
  values: Record<string, unknown>;
}

const key = (d: DeviceIdentity) => `${d.productKey}/${d.deviceName}`;

function settled(result: Promise<CloudReply>, stored: Promise<StoredReceipt>): PostHandle {
  // Like the agent's handles: neither promise raises an unhandled rejection when it is not awaited.
  stored.catch(() => undefined);
  result.catch(() => undefined);
  return Object.assign(result, { stored, reply: result }) as PostHandle;
}

export class FakeGateway implements GatewayApi {
  readonly calls: GatewayCall[] = [];
  readonly posts: RecordedPost[] = [];
  /** Posts the TSL refused (a driver bug): a test expects none. */
  readonly refused: Array<{ device: string; message: string }> = [];
  private readonly devices = new Map<string, SubDeviceStatus>();
  private ids = 0;
  /** The claim whose `onStateChange` hears state changes (set once the driver is set up). */
  claim: PluginInstance['subDevices'];

  constructor(
    private readonly models: ReadonlyMap<string, CompiledThingModel>,
    private readonly owner: string,
  ) {}

  async add(spec: SubDeviceSpec): Promise<SubDeviceStatus> {
    const device = { productKey: spec.productKey, deviceName: spec.deviceName };
    this.calls.push({ op: 'add', device, ...(spec.deviceSecret !== undefined ? { deviceSecret: spec.deviceSecret } : {}) });
    const status = this.devices.get(key(device)) ?? { ...device, state: 'pending' as const, owner: this.owner };
    this.devices.set(key(device), status);
    return status;
  }

  async remove(device: DeviceIdentity): Promise<void> {
    this.calls.push({ op: 'remove', device: { productKey: device.productKey, deviceName: device.deviceName } });
    this.devices.delete(key(device));
  }

  async setReachable(device: DeviceIdentity, reachable: boolean): Promise<void> {
    this.calls.push({ op: 'setReachable', device: { productKey: device.productKey, deviceName: device.deviceName }, reachable });
  }

  status(device: DeviceIdentity): SubDeviceStatus | undefined {
    return this.devices.get(key(device));
  }

  list(): readonly SubDeviceStatus[] {
    return [...this.devices.values()];
  }

  model(productKey: string): CompiledThingModel | undefined {
    return this.models.get(productKey);
  }

  /** Pack posts are not recorded: the example driver posts per device. A call fails the test loudly. */
  postPack(): PostHandle {
    const err = new Error('FakeGateway: postPack is not faked');
    return settled(Promise.reject(err), Promise.reject(err));
  }

  /** Moves a known sub-device to `state` and tells the owning claim, as the agent does. */
  setState(device: DeviceIdentity, state: SubDeviceState, reason?: string): void {
    const before = this.devices.get(key(device));
    if (!before) throw new Error(`the driver never added ${key(device)}`);
    const after: SubDeviceStatus = { ...before, state, ...(reason !== undefined ? { reason } : {}) };
    this.devices.set(key(device), after);
    this.claim?.onStateChange?.(after, before.state);
  }

  /** Posts for one device, newest last. */
  postsOf(device: DeviceIdentity, kind: RecordedPost['kind'] = 'properties'): RecordedPost[] {
    return this.posts.filter((p) => p.device === key(device) && p.kind === kind);
  }

  upstream(device: DeviceIdentity): Upstream {
    const model = this.models.get(device.productKey);
    if (!model) throw new Error(`no Thing Model for ${device.productKey}`);
    const record = (kind: RecordedPost['kind'], check: ReturnType<CompiledThingModel['validatePropertyPost']>, values: Record<string, unknown>, event?: string): PostHandle => {
      if (!check.ok) {
        this.refused.push({ device: key(device), message: check.message });
        const err = new ValidationError(check.errors, check.message);
        return settled(Promise.reject(err), Promise.reject(err));
      }
      this.posts.push({ device: key(device), kind, values, ...(event !== undefined ? { event } : {}) });
      const id = String(++this.ids);
      return settled(Promise.resolve({ id, code: 200, data: {} }), Promise.resolve({ durable: true, acked: Promise.resolve() }));
    };
    const unused = (what: string) => () => {
      throw new Error(`FakeGateway: ${what} is not faked`);
    };
    return {
      postProperties: (values) => record('properties', model.validatePropertyPost(values), values),
      postEvent: (eventId, value) => record('event', model.validateEventOutput(eventId, value), value, eventId),
      postBatch: unused('postBatch'),
      now: () => Date.now(),
      publish: unused('publish'),
      publishRaw: unused('publishRaw'),
      updateTags: unused('updateTags'),
      deleteTags: unused('deleteTags'),
    };
  }
}

/** An in-memory `ctx.state`. */
function memoryState(): PluginState {
  const map = new Map<string, unknown>();
  return {
    durable: false,
    get: <T>(k: string) => structuredClone(map.get(k)) as T | undefined,
    entries: () => [...map].map(([k, v]) => [k, structuredClone(v)] as [string, unknown]),
    put: async (entries) => void Object.entries(entries).forEach(([k, v]) => map.set(k, structuredClone(v))),
    delete: async (keys) => void (typeof keys === 'string' ? [keys] : keys).forEach((k) => map.delete(k)),
  };
}

export interface FakeDriver<O> {
  ctx: PluginContext<O>;
  instance: PluginInstance<O>;
  gateway: FakeGateway;
  log: CapturedLog;
  /** Aborts `ctx.signal`, then calls `stop` (the loader's order). */
  stop(): Promise<void>;
  /** Validates new options with the plugin's schema and calls `reload`. */
  reload(options: unknown): Promise<void>;
}

/**
 * Sets a driver plugin up on a fake context: `options` validated by the plugin's schema (defaults applied),
 * `gatewayTsl` as `ctx.model`, `subProducts` (product key → TSL file) behind `ctx.gateway.model`. Call `start` yourself.
 */
export async function setUpDriver<O>(plugin: AlinkPlugin<O>, options: unknown, files: { gatewayTsl: string; subProducts: Record<string, string> }): Promise<FakeDriver<O>> {
  const validate = compileOptions(new Ajv({ useDefaults: true, allErrors: false, strict: false }), plugin as AlinkPlugin<unknown>, plugin.name);
  const log = captureLog('debug');
  const models = new Map(Object.entries(files.subProducts).map(([pk, file]) => [pk, compileThingModel(loadThingModelFile(file))]));
  const gateway = new FakeGateway(models, plugin.name);
  const controller = new AbortController();
  const model = compileThingModel(loadThingModelFile(files.gatewayTsl));
  let current = validate(options) as O;
  const ctx: PluginContext<O> = {
    name: plugin.name,
    get options() {
      return current;
    },
    logger: log.logger.child({ plugin: plugin.name }),
    dataDir: '/nonexistent',
    model,
    identity: { productKey: model.model.productKey, deviceName: 'gw-001' },
    get upstream(): Upstream {
      throw new Error('a driver posts through ctx.gateway.upstream(device) here');
    },
    signal: controller.signal,
    state: memoryState(),
    ownedProperties: () => [],
    gateway,
  };
  const instance = await plugin.setup(ctx);
  gateway.claim = instance.subDevices;
  return {
    ctx,
    instance,
    gateway,
    log,
    async stop() {
      controller.abort(new Error(`plugin "${plugin.name}" stopped`));
      await instance.stop?.();
    },
    async reload(next) {
      current = validate(next) as O;
      await instance.reload?.(current);
    },
  };
}
