/**
 * The schema (agent/config/schema.ts) is the source of every configuration key and default; the README's
 * "Every key, with its default" tables are written for people. This test keeps the second true to the first:
 * every key of the schema has a row (or, for a key without sub-keys, a "Default `...`" sentence) in the section
 * of its parent, and every default the schema fills in is the one the README shows.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentConfigSchema } from '../agent/config/schema';
import { reloadRules } from '../agent/config/reload';

interface Node {
  properties?: Record<string, Node>;
  default?: unknown;
}

const README = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');

/** `{section: {key: default cell}}` from the `#### \`section\`` headings and their tables or "Default" sentences. */
function documented(): Map<string, Map<string, string>> {
  const start = README.indexOf('### Every key, with its default');
  const end = README.indexOf('\n## ', start);
  expect(start).toBeGreaterThan(0);
  const out = new Map<string, Map<string, string>>();
  let rows: Map<string, string> | undefined;
  for (const line of README.slice(start, end).split('\n')) {
    const heading = /^#### `([^`]+)`/.exec(line);
    if (heading) {
      rows = new Map();
      out.set(heading[1] as string, rows);
      continue;
    }
    const row = /^\| `([^`]+)` \| ([^|]*) \|/.exec(line);
    if (row && rows) rows.set(row[1] as string, (row[2] as string).trim());
    const sentence = /^Default (`[^`]+`)/.exec(line);
    if (sentence && rows) rows.set('', sentence[1] as string);
  }
  return out;
}

/** Leaves of the schema as `[section, key, node]`: a key is documented in the table of its deepest section heading. */
function leaves(): [string, string, Node][] {
  const out: [string, string, Node][] = [];
  const sections = documented();
  const walk = (path: string[], node: Node) => {
    const dotted = path.join('.');
    if (node.properties) {
      for (const [k, child] of Object.entries(node.properties)) walk([...path, k], child);
      return;
    }
    // the deepest documented section that contains this key
    for (let i = path.length; i >= 1; i--) {
      const section = path.slice(0, i).join('.');
      if (sections.has(section)) {
        out.push([section, path.slice(i).join('.'), node]);
        return;
      }
    }
    out.push(['(no section)', dotted, node]);
  };
  for (const [k, node] of Object.entries((agentConfigSchema as Node).properties ?? {})) if (k !== '$schema') walk([k], node);
  return out;
}

const squeeze = (s: string) => s.replace(/\s+/g, '');
const shown = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

describe('README configuration table against the schema', () => {
  const sections = documented();
  const all = leaves();

  it('finds the schema keys (the parser reads the tables at all)', () => {
    expect(all.length).toBeGreaterThan(40);
  });

  it.each(all.map(([section, key, node]) => [`${section}${key ? `.${key}` : ''}`, section, key, node] as const))('documents %s', (_name, section, key, node) => {
    const rows = sections.get(section);
    expect(rows).toBeDefined();
    const cell = rows?.get(key);
    expect({ key: `${section}.${key}`, documented: cell !== undefined }).toEqual({ key: `${section}.${key}`, documented: true });
    if (node.default !== undefined) {
      expect(squeeze(cell ?? '')).toContain(squeeze(`\`${shown(node.default)}\``));
    }
  });

  it('lists exactly the keys the schema marks live as the ones SIGHUP applies', () => {
    const line = /^Live keys, applied again on SIGHUP: (.*)$/m.exec(README)?.[1] ?? '';
    const listed = [...line.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string).filter((k) => k !== 'options');
    const live = Object.entries(reloadRules()).filter(([, r]) => r === 'live').map(([k]) => k);
    expect(listed.sort()).toEqual(live.sort());
  });
});
