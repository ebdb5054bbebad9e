/**
 * Duplicate keys in one JSON text. JSON.parse keeps the last of two equal keys without a word, so a log line such as
 * `{"level":30,...,"level":"debug"}` parses fine and still misleads every reader that keeps the first; tests check
 * raw log lines with this.
 */

/** The keys that occur twice in the same object of `text` (paths like `err.code`); [] when none. */
export function duplicateKeys(text: string): string[] {
  const dups: string[] = [];
  // one frame per open object or array: its keys, and the key that led into it
  const stack: { keys: Set<string> | null; path: string }[] = [];
  let lastString: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      lastString = JSON.parse(text.slice(i, j + 1)) as string;
      i = j;
      continue;
    }
    const top = stack[stack.length - 1];
    if (c === ':' && top?.keys && lastString !== undefined) {
      const path = top.path ? `${top.path}.${lastString}` : lastString;
      if (top.keys.has(lastString)) dups.push(path);
      top.keys.add(lastString);
      (top as { pending?: string }).pending = path;
    } else if (c === '{' || c === '[') {
      const parentPath = (top as { pending?: string } | undefined)?.pending ?? top?.path ?? '';
      stack.push({ keys: c === '{' ? new Set() : null, path: parentPath });
    } else if (c === '}' || c === ']') {
      stack.pop();
    }
    if (c !== '"' && !/\s/.test(c ?? '')) lastString = c === ':' ? lastString : undefined;
  }
  return dups;
}
