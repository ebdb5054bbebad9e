/**
 * The batch post's check (docs/protocol/sdk-compat.md §4): `{properties: {id: [{value, time}]}, events: {id:
 * [{value: {...}, time}]}}`, every entry against the Thing Model, at least one entry, every `time` an epoch-ms
 * integer. Gives the params to send, or the ValidationError naming the first bad entry.
 */
import type { CompiledThingModel } from '../../thing-model';
import { ValidationError } from '../../thing-model/codes';
import { AlinkMethods } from '../../thing-model/wire';
import type { BatchPost } from '../../handlers/api';

function refuse(field: string, expected: string, received: unknown, message: string): ValidationError {
  return new ValidationError([{ field, reason: 'type', expected, received: JSON.stringify(received)?.slice(0, 80) ?? String(received), message }], message);
}

export function checkBatch(model: CompiledThingModel, batch: BatchPost): BatchPost | ValidationError {
  const out: Required<BatchPost> = { properties: {}, events: {} };
  let n = 0;
  for (const [id, list] of Object.entries(batch.properties ?? {})) {
    if (!Array.isArray(list) || list.length === 0) return refuse(`properties.${id}`, 'a non-empty list of {value, time}', list, `properties.${id}: expected a non-empty list`);
    for (const [i, e] of list.entries()) {
      const where = `properties.${id}[${i}]`;
      if (!Number.isSafeInteger(e?.time)) return refuse(`${where}.time`, 'epoch milliseconds', e?.time, `${where}.time: expected epoch milliseconds`);
      const v = model.validatePropertyPost({ [id]: { value: e.value, time: e.time } });
      if (!v.ok) return new ValidationError(v.errors, `${where}: ${v.message}`);
    }
    out.properties[id] = list.map((e) => ({ value: e.value, time: e.time }));
    n += list.length;
  }
  for (const [id, list] of Object.entries(batch.events ?? {})) {
    const def = model.event(id);
    if (!def || def.method === AlinkMethods.PROPERTY_POST) return refuse(`events.${id}`, 'an event of the Thing Model', id, `events.${id}: unknown event`);
    if (!Array.isArray(list) || list.length === 0) return refuse(`events.${id}`, 'a non-empty list of {value, time}', list, `events.${id}: expected a non-empty list`);
    for (const [i, e] of list.entries()) {
      const where = `events.${id}[${i}]`;
      if (!Number.isSafeInteger(e?.time)) return refuse(`${where}.time`, 'epoch milliseconds', e?.time, `${where}.time: expected epoch milliseconds`);
      const v = model.validateEventOutput(id, e.value);
      if (!v.ok) return new ValidationError(v.errors, `${where}: ${v.message}`);
    }
    out.events[id] = list.map((e) => ({ value: e.value, time: e.time }));
    n += list.length;
  }
  if (n === 0) return refuse('properties', 'at least one property or event entry', batch, 'batch: expected at least one entry');
  return out;
}
