/** The shadow document rules (simulator/mqtt/shadow.ts): versions, deletes, "null", and the error codes. */
import { applyShadowRequest, emptyShadow, ShadowCodes, shadowView, type ShadowDocument } from '../mqtt/shadow';

function ok(doc: ShadowDocument, req: Record<string, unknown>, cloud = false): ShadowDocument {
  const r = applyShadowRequest(doc, req, cloud);
  if (!r.ok) throw new Error(`${r.errorcode}: ${r.errormessage}`);
  return r.doc;
}

describe('shadow updates', () => {
  it('merges reported and desired, bumps the version, and clears with "null"', () => {
    let d = ok(emptyShadow(), { method: 'update', state: { reported: { a: 1, b: [1, 2] } }, version: 1 });
    d = ok(d, { method: 'update', state: { reported: { b: [3] }, desired: { a: 2 } }, version: 2 });
    expect(shadowView(d)).toMatchObject({ state: { reported: { a: 1, b: [3] }, desired: { a: 2 } }, version: 2 });
    d = ok(d, { method: 'update', state: { desired: 'null' }, version: 3 });
    expect((shadowView(d).state as Record<string, unknown>).desired).toBeUndefined();
    d = ok(d, { method: 'delete', state: { reported: { a: 'null' } }, version: 4 });
    expect(shadowView(d).state).toEqual({ reported: { b: [3] } });
  });

  it('refuses a version not above the current one with 403, and -1 resets', () => {
    const d = ok(emptyShadow(), { method: 'update', state: { reported: { a: 1 } }, version: 5 });
    expect(applyShadowRequest(d, { method: 'update', state: { reported: { a: 2 } }, version: 5 }, false)).toMatchObject({ ok: false, errorcode: ShadowCodes.BAD_VERSION });
    expect(ok(d, { method: 'update', state: { reported: {} }, version: -1 }).version).toBe(0);
    // The cloud's 0 means "no versioning".
    expect(ok(d, { method: 'update', state: { desired: { a: 3 } }, version: 0 }, true).version).toBe(6);
  });

  it.each([
    [{ state: {} }, ShadowCodes.NO_METHOD],
    [{ method: 'replace', state: {}, version: 1 }, ShadowCodes.BAD_METHOD],
    [{ method: 'update', version: 1 }, ShadowCodes.NO_STATE],
    [{ method: 'update', state: {}, version: 1 }, ShadowCodes.NO_REPORTED],
    [{ method: 'update', state: { reported: {} }, version: 1 }, ShadowCodes.REPORTED_EMPTY],
    [{ method: 'delete', state: {}, version: 1 }, ShadowCodes.NO_REPORTED],
    [{ method: 'update', state: { reported: { a: 1 } }, version: 'x' }, ShadowCodes.BAD_VERSION],
  ])('answers %j with shadow code %s', (req, code) => {
    expect(applyShadowRequest(emptyShadow(), req, false)).toMatchObject({ ok: false, errorcode: code });
  });
});
