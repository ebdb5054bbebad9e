/** What one cloud API action is: its parameter schema, its list parameters, and its handler. */
import type { CallContext } from '../http/server';
import type { Platform } from '../mqtt/platform';
import type { Registry } from '../registry';
import type { DeviceStateStore } from '../state/device-state';
import type { OtaService } from '../ota/service';

/** What every handler may use. */
export interface ApiDeps {
  registry: Registry;
  platform: Platform;
  state: DeviceStateStore;
  cloudValidation: boolean;
  maxPayloadBytes: number;
  syncServiceTimeoutMs: number;
  /** Modules, packages, jobs and tasks (docs/protocol/ota-platform.md). */
  ota: OtaService;
}

export interface ApiAction<P = Record<string, unknown>> {
  name: string;
  /** Names sent flattened as `Name.1`, `Name.2`, ... (or `Name.1.Field`), gathered into arrays before validation. */
  lists?: readonly string[];
  /** JSON Schema of the gathered parameters (strings on the wire; integers are coerced). */
  schema: Record<string, unknown>;
  /** Returns the response body without RequestId and Success; throws ApiError. */
  handle(params: P, deps: ApiDeps, ctx: CallContext): Promise<Record<string, unknown>>;
}
