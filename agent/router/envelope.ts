/**
 * The boundary check of downstream Alink requests (docs/protocol/payloads.md, "Request"): one JSON.parse, one compiled ajv
 * schema. Everything past this point trusts `id` to be an Alink id and `params` to be an object.
 */
import Ajv, { type ErrorObject } from 'ajv';
import { isAlinkId } from '../../thing-model/wire';

/** A request whose envelope passed the check. */
export interface RequestEnvelope {
  id: string;
  version?: string;
  method?: string;
  params: Record<string, unknown>;
  sys?: Record<string, unknown>;
}

export type EnvelopeResult =
  | { ok: true; value: RequestEnvelope }
  /** `id` is whatever id could be recovered (for the error reply), '' when none. */
  | { ok: false; id: string; message: string };

const SCHEMA = {
  type: 'object',
  required: ['id', 'params'],
  properties: {
    id: { type: 'string', pattern: '^[0-9]{1,10}$' },
    version: { type: 'string' },
    method: { type: 'string' },
    params: { type: 'object' },
    sys: { type: 'object' },
  },
};

const FIELD_RULES: Record<string, string> = {
  id: 'must be a string of decimal digits (0..4294967295)',
  version: 'must be a string',
  method: 'must be a string',
  params: 'must be an object',
  sys: 'must be an object',
};

const ID_IN_TEXT = /"id"\s*:\s*"?([0-9]{1,10})\b/;

type EnvelopeCheck = ((v: unknown) => boolean) & { errors?: ErrorObject[] | null };
let compiled: EnvelopeCheck | undefined;

/**
 * Compiled on first use, then shared by every router of the process: a compiled schema is immutable (its `errors`
 * are read right after each synchronous call), and compiling it per router cost a gateway ~250 KB and 17-32 ms of CPU
 * per sub-device (docs/performance.md, "Gateway sub-devices").
 */
function envelopeCheck(): EnvelopeCheck {
  compiled ??= new Ajv({ allErrors: false }).compile(SCHEMA) as EnvelopeCheck;
  return compiled;
}

/** Parses and checks request envelopes. */
export class EnvelopeParser {
  private readonly check = envelopeCheck();

  /** Parses `payload` as an Alink request. */
  parse(payload: Buffer): EnvelopeResult {
    const text = payload.toString('utf8');
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch {
      const m = ID_IN_TEXT.exec(text);
      return { ok: false, id: m?.[1] ?? '', message: 'payload: not valid JSON' };
    }
    return this.checkParsed(obj);
  }

  /** Checks an already parsed value (RRPC peeks at the JSON before deciding it is an Alink request). */
  checkParsed(obj: unknown): EnvelopeResult {
    if (this.check(obj)) {
      const env = obj as RequestEnvelope;
      if (isAlinkId(env.id)) return { ok: true, value: env };
      return { ok: false, id: env.id, message: `id: ${FIELD_RULES.id}` };
    }
    return { ok: false, id: recoverId(obj), message: describe(this.check.errors?.[0]) };
  }
}

function recoverId(obj: unknown): string {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return '';
  const id = (obj as { id?: unknown }).id;
  if (typeof id === 'string') return id.slice(0, 32);
  if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) return String(id);
  return '';
}

function describe(e: ErrorObject | null | undefined): string {
  if (!e) return 'payload: not an Alink request';
  if (e.keyword === 'required') return `${String(e.params.missingProperty)}: missing`;
  const field = e.instancePath.slice(1);
  if (field === '') return 'payload: must be a JSON object';
  return `${field}: ${FIELD_RULES[field] ?? e.message ?? 'invalid'}`;
}
