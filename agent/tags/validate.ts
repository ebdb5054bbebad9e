/**
 * Device tags checked before they are sent (docs/protocol/tags.md, "Rules"): the two Alibaba pages disagree on
 * the key rule, so a key must pass both (letters, digits, `_` `-` `.`, 2..30 characters, not starting with a
 * digit); a value is at most 128 characters with CJK counted twice and no control characters; at most 200 tags
 * per update.
 */
import type { FieldError } from '../../thing-model';

export const MAX_TAGS_PER_UPDATE = 200;
const KEY_RE = /^[A-Za-z_.-][A-Za-z0-9_.-]{1,29}$/;
const CJK_RE = /[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]/g;

/** Length as the platform counts it: CJK characters count 2. */
export function tagValueLength(v: string): number {
  return v.length + (v.match(CJK_RE)?.length ?? 0);
}

function problem(field: string, expected: string, received: unknown): FieldError {
  const shown = (JSON.stringify(received) ?? String(received)).slice(0, 80);
  return { field, reason: 'type', expected, received: shown, message: `${field}: expected ${expected}, received ${shown}` };
}

export function checkTagKey(key: string, field = `tags.${key}`): FieldError | undefined {
  return KEY_RE.test(key) ? undefined : problem(field, 'a tag key of 2..30 letters, digits, "_", "-" or ".", not starting with a digit', key);
}

/** Problems of an update, in key order; empty when every tag is fine. */
export function checkTags(tags: Record<string, unknown>): FieldError[] {
  const out: FieldError[] = [];
  const keys = Object.keys(tags);
  if (keys.length === 0) out.push(problem('tags', 'at least one tag', {}));
  if (keys.length > MAX_TAGS_PER_UPDATE) out.push(problem('tags', `at most ${MAX_TAGS_PER_UPDATE} tags per update`, keys.length));
  for (const k of keys) {
    const keyProblem = checkTagKey(k);
    if (keyProblem) out.push(keyProblem);
    const v = tags[k];
    // eslint-disable-next-line no-control-regex
    if (typeof v !== 'string' || v === '' || tagValueLength(v) > 128 || /[\u0000-\u001f]/.test(v)) {
      out.push(problem(`tags.${k}`, 'a non-empty string of at most 128 characters (CJK counts 2), no control characters', v));
    }
  }
  return out;
}
