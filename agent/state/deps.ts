/** What the state channels (desired values, shadow) share: one per router. */
import type { Logger } from 'pino';
import type { CompiledThingModel } from '../../thing-model';
import type { StateTopics } from '../../thing-model/wire';
import type { RouterObserver } from '../router/observer';
import type { Uplink } from '../transport';
import type { StateRequests } from './requests';

/** Why values were not applied: the Alink code and message a property set would have answered with. */
export interface ApplyFailure {
  code: number;
  message: string;
}

export interface StateDeps {
  readonly model: CompiledThingModel;
  readonly topics: StateTopics;
  readonly uplink: Uplink;
  readonly requests: StateRequests;
  readonly logger: Logger;
  readonly observer: RouterObserver | undefined;
  /** The property-set path: values already checked against the Thing Model go to their owning plugins. */
  apply(values: Record<string, unknown>, id: string): Promise<ApplyFailure | undefined>;
  /** The applied values join the post-after-set post, as a property set's do. */
  posted(values: Record<string, unknown>): void;
}

/**
 * Splits `entries` into the values the Thing Model accepts for a property set and the identifiers it refuses,
 * each refusal logged with its reason (a desired or shadow value is never applied unchecked).
 */
export function checkValues(deps: StateDeps, entries: Record<string, unknown>, what: string): { valid: Record<string, unknown>; refused: string[] } {
  const valid: Record<string, unknown> = {};
  const refused: string[] = [];
  for (const [k, v] of Object.entries(entries)) {
    const r = deps.model.validatePropertySet({ [k]: v });
    if (r.ok) valid[k] = (r.value as Record<string, unknown>)[k];
    else {
      refused.push(k);
      deps.logger.warn({ property: k, reason: r.message }, `${what} refused by the Thing Model; not applied`);
    }
  }
  return { valid, refused };
}
