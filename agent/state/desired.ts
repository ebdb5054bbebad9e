/**
 * Desired property values (docs/protocol/desired-shadow.md §1): after every connect the agent asks for the
 * desired values of its read-write properties (`desired/get`, at most 200 identifiers per request), checks each
 * against the Thing Model, applies the valid ones through the property-set path, and clears (`desired/delete`
 * with each value's version, so a value set again meanwhile survives) what it applied and what the Thing Model
 * refused. Values a plugin refused stay desired: the next connect tries again.
 */
import { isPlainObject } from '../../thing-model';
import { AlinkMethods } from '../../thing-model/wire';
import { checkValues, type StateDeps } from './deps';
import { succeeded } from './requests';

/** The platform's limit of identifiers per desired request (docs/protocol/desired-shadow.md §1). */
const MAX_IDS_PER_REQUEST = 200;

export interface DesiredOutcome {
  applied: string[];
  refused: string[];
  /** Applied by nobody: a plugin refused them; left desired. */
  kept: string[];
}

export class DesiredValues {
  private readonly ids: string[];
  private running: Promise<DesiredOutcome | undefined> | undefined;

  constructor(private readonly deps: StateDeps) {
    this.ids = deps.model.model.properties.filter((p) => p.accessMode === 'rw').map((p) => p.identifier);
  }

  /** One round: get, apply, clear. Never rejects; a round already running is joined. */
  sync(): Promise<DesiredOutcome | undefined> {
    this.running ??= this.round().finally(() => (this.running = undefined));
    return this.running;
  }

  private async round(): Promise<DesiredOutcome | undefined> {
    const { deps } = this;
    const log = deps.logger;
    try {
      const desired: Record<string, { value: unknown; version?: number }> = {};
      for (let i = 0; i < this.ids.length; i += MAX_IDS_PER_REQUEST) {
        const r = await deps.requests.request(deps.topics.desiredGet, AlinkMethods.PROPERTY_DESIRED_GET, this.ids.slice(i, i + MAX_IDS_PER_REQUEST));
        if (!succeeded(r)) {
          log.warn({ code: r.code, reason: r.message }, 'desired values: the platform refused the get; trying again after the next connect');
          return undefined;
        }
        if (isPlainObject(r.data)) {
          for (const [k, e] of Object.entries(r.data)) {
            // A cleared value comes back without `value` (or not at all).
            if (isPlainObject(e) && 'value' in e && e.value !== null) desired[k] = { value: e.value, ...(typeof e.version === 'number' ? { version: e.version } : {}) };
          }
        }
      }
      const names = Object.keys(desired);
      if (names.length === 0) return { applied: [], refused: [], kept: [] };
      deps.observer?.messageIn('desired');
      const values: Record<string, unknown> = {};
      for (const k of names) values[k] = desired[k]!.value;
      const { valid, refused } = checkValues(deps, values, 'desired value');
      let applied = Object.keys(valid);
      let kept: string[] = [];
      if (applied.length > 0) {
        const failure = await deps.apply(valid, '');
        if (failure) {
          log.warn({ properties: applied, code: failure.code, reason: failure.message }, 'desired values not applied; kept for the next connect');
          kept = applied;
          applied = [];
        } else {
          deps.posted(valid);
          log.info({ properties: applied }, 'desired values applied');
        }
      }
      const clear: Record<string, { version?: number }> = {};
      for (const k of [...applied, ...refused]) clear[k] = desired[k]!.version === undefined ? {} : { version: desired[k]!.version };
      if (Object.keys(clear).length > 0) {
        const r = await deps.requests.request(deps.topics.desiredDelete, AlinkMethods.PROPERTY_DESIRED_DELETE, clear);
        if (!succeeded(r)) log.warn({ code: r.code, reason: r.message }, 'desired values: the platform refused to clear them');
      }
      return { applied, refused, kept };
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'desired values: no answer; trying again after the next connect');
      return undefined;
    }
  }
}
