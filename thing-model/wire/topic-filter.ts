/** MQTT topic filters: syntax check and a precompiled matcher (one RegExp per filter, no per-message splits). */

/** Why `filter` is not a valid MQTT subscription filter, or undefined when it is. */
export function filterSyntaxError(filter: string): string | undefined {
  if (filter === '') return 'empty filter';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i] as string;
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return `'#' must be a whole last level`;
    if (l.includes('+') && l !== '+') return `'+' must be a whole level`;
  }
  return undefined;
}

/** Compiles a valid filter into a RegExp matching exactly the topics it selects. */
export function compileFilter(filter: string): RegExp {
  const levels = filter.split('/');
  let src = '^';
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i] as string;
    if (l === '#') {
      // 'a/#' also matches 'a' itself (MQTT 3.1.1 §4.7.1.2).
      src += i === 0 ? '.*' : '(?:/.*)?';
      return new RegExp(src + '$');
    }
    if (i > 0) src += '/';
    src += l === '+' ? '[^/]*' : l.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(src + '$');
}
