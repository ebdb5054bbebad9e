/**
 * Routes an authenticated call to its action: gathers list parameters, validates them with the action's
 * compiled schema (errors name the parameter as the client sent it, e.g. `DeviceName.3`), then runs the handler.
 */
import type { ValidateFunction } from 'ajv';
import { ApiErrors } from '../errors';
import { gatherParams } from '../http/params';
import type { ApiDispatcher, CallContext } from '../http/server';
import { createAjv, firstProblem } from '../schema-errors';
import type { ApiAction, ApiDeps } from './types';

/** `['DeviceName', '2']` is the third list item, which the client sent as `DeviceName.3`. */
function wireName(path: string[], lists: readonly string[]): string {
  const [base, index, ...rest] = path;
  if (base !== undefined && lists.includes(base) && index !== undefined && /^[0-9]+$/.test(index)) {
    return [`${base}.${Number(index) + 1}`, ...rest].join('.');
  }
  return path.join('.');
}

export class Dispatcher implements ApiDispatcher {
  private readonly actions = new Map<string, { action: ApiAction; validate: ValidateFunction }>();

  constructor(
    actions: readonly ApiAction<never>[],
    private readonly deps: ApiDeps,
  ) {
    const ajv = createAjv({ coerceTypes: true });
    for (const a of actions) this.actions.set(a.name, { action: a as unknown as ApiAction, validate: ajv.compile(a.schema) });
  }

  has(action: string): boolean {
    return this.actions.has(action);
  }

  async call(name: string, values: Map<string, string>, ctx: CallContext): Promise<Record<string, unknown>> {
    const entry = this.actions.get(name);
    if (!entry) throw ApiErrors.invalidAction(name);
    const lists = entry.action.lists ?? [];
    const params = gatherParams(values, lists);
    if (!entry.validate(params)) {
      const p = firstProblem(entry.validate);
      const param = wireName(p.path, lists);
      if (p.kind === 'missing') throw ApiErrors.missingParameter(param);
      throw ApiErrors.invalidParameter(param, p.expected, p.received);
    }
    return entry.action.handle(params, this.deps, ctx);
  }
}
