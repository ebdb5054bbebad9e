/**
 * Device shadows (docs/protocol/desired-shadow.md §2): one JSON document per device with `state.desired`,
 * `state.reported`, per-attribute timestamps (epoch seconds) and a version. Version rule: an update is accepted
 * only with a version greater than the current one; -1 resets the shadow (document cleared, version 0); the
 * cloud's UpdateDeviceShadow may pass 0 for "no versioning". Errors carry the shadow codes (400..408, 500).
 */
import { isPlainObject } from '../../thing-model';

/** The shadow error codes (docs/protocol/desired-shadow.md §2). */
export const ShadowCodes = {
  BAD_JSON: '400',
  NO_METHOD: '401',
  NO_STATE: '402',
  BAD_VERSION: '403',
  NO_REPORTED: '404',
  REPORTED_EMPTY: '405',
  BAD_METHOD: '406',
  DOCUMENT_EMPTY: '407',
  TOO_MANY_ATTRIBUTES: '408',
} as const;

/** Our limit on attributes per section; the platform's number is not documented (408 exists). */
export const MAX_SHADOW_ATTRIBUTES = 128;

type Section = Record<string, unknown>;

export interface ShadowDocument {
  desired: Section;
  reported: Section;
  metaDesired: Record<string, { timestamp: number }>;
  metaReported: Record<string, { timestamp: number }>;
  version: number;
  timestamp: number;
}

export type ShadowResult = { ok: true; doc: ShadowDocument } | { ok: false; errorcode: string; errormessage: string };

const fail = (errorcode: string, errormessage: string): ShadowResult => ({ ok: false, errorcode, errormessage });

export function emptyShadow(): ShadowDocument {
  return { desired: {}, reported: {}, metaDesired: {}, metaReported: {}, version: 0, timestamp: Math.floor(Date.now() / 1000) };
}

/** The document as the wire shows it: `{state, metadata, version, timestamp}`. */
export function shadowView(d: ShadowDocument): Record<string, unknown> {
  const state: Record<string, unknown> = {};
  const metadata: Record<string, unknown> = {};
  if (Object.keys(d.desired).length > 0) {
    state.desired = d.desired;
    metadata.desired = d.metaDesired;
  }
  if (Object.keys(d.reported).length > 0) {
    state.reported = d.reported;
    metadata.reported = d.metaReported;
  }
  return { state, metadata, version: d.version, timestamp: d.timestamp };
}

/**
 * Applies an update or delete request (`method`, `state`, `version`) to `doc` (not changed on failure).
 * `cloud` marks the UpdateDeviceShadow path, where version 0 skips the check.
 */
export function applyShadowRequest(doc: ShadowDocument, req: Record<string, unknown>, cloud: boolean): ShadowResult {
  const method = req.method;
  if (method === undefined) return fail(ShadowCodes.NO_METHOD, 'method: missing');
  if (method !== 'update' && method !== 'delete') return fail(ShadowCodes.BAD_METHOD, `method: expected "update", "delete" or "get", received ${JSON.stringify(method)}`);
  if (req.state === undefined) return fail(ShadowCodes.NO_STATE, 'state: missing');
  if (!isPlainObject(req.state)) return fail(ShadowCodes.NO_STATE, 'state: expected an object');
  const version = req.version;
  if (typeof version !== 'number' || !Number.isInteger(version)) return fail(ShadowCodes.BAD_VERSION, `version: expected an integer, received ${JSON.stringify(version)}`);
  const next: ShadowDocument = structuredClone(doc);
  const now = Math.floor(Date.now() / 1000);
  if (version === -1) {
    Object.assign(next, emptyShadow());
    return { ok: true, doc: next };
  }
  if (!(cloud && version === 0) && version <= doc.version) {
    return fail(ShadowCodes.BAD_VERSION, `version: expected more than the current ${doc.version}, received ${version}`);
  }
  const state = req.state;
  if (method === 'delete') {
    if (state.reported === undefined) return fail(ShadowCodes.NO_REPORTED, 'state.reported: missing');
    if (state.reported === 'null') {
      next.reported = {};
      next.metaReported = {};
    } else if (isPlainObject(state.reported)) {
      for (const [k, v] of Object.entries(state.reported)) {
        if (v === 'null' || v === null) {
          delete next.reported[k];
          delete next.metaReported[k];
        }
      }
    } else return fail(ShadowCodes.NO_REPORTED, 'state.reported: expected an object or "null"');
  } else {
    if (state.reported === undefined && state.desired === undefined) return fail(ShadowCodes.NO_REPORTED, 'state: expected "reported" or "desired"');
    for (const key of ['reported', 'desired'] as const) {
      const part = state[key];
      if (part === undefined) continue;
      const meta = key === 'reported' ? 'metaReported' : 'metaDesired';
      if (part === 'null') {
        next[key] = {};
        next[meta] = {};
        continue;
      }
      if (!isPlainObject(part)) return fail(ShadowCodes.BAD_JSON, `state.${key}: expected an object or "null"`);
      if (key === 'reported' && Object.keys(part).length === 0 && state.desired === undefined) return fail(ShadowCodes.REPORTED_EMPTY, 'state.reported: empty');
      for (const [k, v] of Object.entries(part)) {
        // Arrays are replaced whole; "null" deletes the attribute.
        if (v === 'null' || v === null) {
          delete next[key][k];
          delete next[meta][k];
        } else {
          next[key][k] = v;
          next[meta][k] = { timestamp: now };
        }
      }
      if (Object.keys(next[key]).length > MAX_SHADOW_ATTRIBUTES) return fail(ShadowCodes.TOO_MANY_ATTRIBUTES, `state.${key}: more than ${MAX_SHADOW_ATTRIBUTES} attributes`);
    }
  }
  next.version = version === 0 ? doc.version + 1 : version;
  next.timestamp = now;
  return { ok: true, doc: next };
}
