/**
 * A small XML serializer for API responses, in the platform's layout: an object becomes child elements, an
 * array under key K becomes repeated <K> elements (JSON `"List":{"Info":[a,b]}` is `<List><Info>a</Info><Info>b</Info></List>`).
 */

const XML_PROLOG = "<?xml version='1.0' encoding='UTF-8'?>";

/** Escapes text content; characters XML 1.0 cannot carry at all are dropped. */
export function escapeXml(s: string): string {
  return s
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

function element(name: string, value: unknown): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.map((v) => element(name, v)).join('');
  if (typeof value === 'object') return `<${name}>${children(value as Record<string, unknown>)}</${name}>`;
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

function children(obj: Record<string, unknown>): string {
  return Object.entries(obj)
    .map(([k, v]) => element(k, v))
    .join('');
}

/** A whole document with the given root element. */
export function toXml(root: string, body: Record<string, unknown>): string {
  return `${XML_PROLOG}<${root}>${children(body)}</${root}>`;
}
