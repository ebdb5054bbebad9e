/**
 * `ctx.state` (handlers/api/state.ts): the `plugin_state` table of a real SQLite file (agent/storage/state-table.ts)
 * and the in-memory map of an agent without stores; the writes of one loop turn share one commit and one WAL
 * fdatasync with the outbox's batch; a write resolves only once it is durable. Then the property store on top of
 * it through a real broker: a legacy `properties.json` migrated once, and a set spanning two plugins answered only
 * after both applied.
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openAgentDb, type AgentDb } from '../agent/storage';
import { StateTable } from '../agent/storage/state-table';
import { createPluginState } from '../agent/plugins/state';
import { Outbox } from '../agent/outbox';
import { definePlugin, StateError } from '../handlers/api';
import { isReplyTo, startHarness, SYS } from './router-harness';
import { waitFor } from './helpers/brokers';

const SET = `${SYS}/thing/service/property/set`;
const POST = `${SYS}/thing/event/property/post`;

function rowsOf(file: string, plugin: string): Record<string, unknown> {
  const other = new Database(file, { readonly: true });
  try {
    const rows = other.prepare('SELECT key, value FROM plugin_state WHERE plugin = ?').all(plugin) as { key: string; value: string }[];
    return Object.fromEntries(rows.map((r) => [r.key, JSON.parse(r.value) as unknown]));
  } finally {
    other.close();
  }
}

describe('ctx.state on the agent database', () => {
  let dir: string;
  let file: string;
  let db: AgentDb;
  let table: StateTable;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'plugin-state-'));
    file = join(dir, 'agent.db');
    db = openAgentDb({ file });
    table = new StateTable(db);
  });
  afterEach(() => {
    table.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
    jest.restoreAllMocks();
  });

  it('a put resolves once committed and fsynced; namespaces are apart; values come back as copies', async () => {
    const a = createPluginState('a', table);
    const b = createPluginState('b', table);
    expect(a.durable).toBe(true);
    const syncs = jest.spyOn(fs, 'fdatasync');
    const written = Promise.all([a.put({ mode: 2, alias: 'north' }), b.put({ mode: 7 }), a.put({ list: [1, 2] })]);
    // Visible at once, not yet on disk.
    expect(a.get('mode')).toBe(2);
    expect(rowsOf(file, 'a')).toEqual({});
    await written;
    // Three writers of one turn: one commit, one fdatasync of the WAL.
    expect(syncs).toHaveBeenCalledTimes(1);
    expect(rowsOf(file, 'a')).toEqual({ mode: 2, alias: 'north', list: [1, 2] });
    expect(rowsOf(file, 'b')).toEqual({ mode: 7 });
    const list = a.get<number[]>('list');
    list?.push(3);
    expect(a.get('list')).toEqual([1, 2]);
    await a.delete(['alias', 'absent']);
    expect(rowsOf(file, 'a')).toEqual({ mode: 2, list: [1, 2] });
    // A fresh state (a restarted agent) reads what is stored.
    expect(Object.fromEntries(createPluginState('a', table).entries())).toEqual({ mode: 2, list: [1, 2] });
  });

  it("shares the outbox's group commit and fsync when both write in one turn", async () => {
    const outbox = Outbox.open({ db });
    try {
      const s = createPluginState('p', table);
      const syncs = jest.spyOn(fs, 'fdatasync');
      // Not attached to a client: the publish is only stored, which is what is measured here.
      const stored = outbox.publish('/a1/dev/user/x', 'payload', { qos: 1, messageClass: 'custom' });
      await Promise.all([s.put({ k: 1 }), stored]);
      expect(syncs).toHaveBeenCalledTimes(1);
      expect(rowsOf(file, 'p')).toEqual({ k: 1 });
    } finally {
      outbox.close();
    }
  });

  it('refuses keys and values JSON cannot hold, writing nothing of the call', async () => {
    const s = createPluginState('p', table);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const bad of [{ ok: 1, '': 2 }, { ok: 1, f: () => 1 }, { ok: 1, c: cyclic }, { ok: 1, n: 10n }]) {
      const err = await s.put(bad).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StateError);
      expect((err as StateError).code).toBe('PLUGIN_STATE_INVALID');
      expect((err as StateError).message).toContain('plugin "p" state');
    }
    expect(s.entries()).toEqual([]);
    expect(rowsOf(file, 'p')).toEqual({});
  });

  it('rejects writes after the stores closed with PLUGIN_STATE_CLOSED', async () => {
    const s = createPluginState('p', table);
    table.close();
    await expect(s.put({ k: 1 })).rejects.toMatchObject({ code: 'PLUGIN_STATE_CLOSED' });
  });

  it('without stores it is an in-memory map', async () => {
    const s = createPluginState('p', undefined);
    expect(s.durable).toBe(false);
    await s.put({ k: { a: 1 } });
    expect(s.get('k')).toEqual({ a: 1 });
    await s.delete('k');
    expect(s.entries()).toEqual([]);
  });
});

describe('the property store on ctx.state (aedes)', () => {
  it('migrates a legacy properties.json once, reports its values, and renames it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'property-migrate-'));
    const legacy = join(dataDir, 'plugins', 'property-store', 'properties.json');
    mkdirSync(join(dataDir, 'plugins', 'property-store'), { recursive: true });
    writeFileSync(legacy, JSON.stringify({ format: 1, values: { WorkMode: 2, DeviceAlias: 'legacy' } }));
    const h = await startHarness({ broker: 'aedes', dataDir });
    try {
      const post = await waitFor(() => h.on(POST)[0], 3000, 'the start-up property post');
      expect(post.json?.params).toEqual({ WorkMode: 2, DeviceAlias: 'legacy' });
      expect(existsSync(legacy)).toBe(false);
      expect(existsSync(`${legacy}.migrated`)).toBe(true);
      expect(rowsOf(join(dataDir, 'agent.db'), 'property-store')).toEqual({ WorkMode: 2, DeviceAlias: 'legacy' });
      // Sets from here on go to the database only.
      await h.send(SET, { id: '7001', version: '1.0', params: { DeviceAlias: 'new' } });
      expect((await h.next(isReplyTo('7001'))).json).toMatchObject({ code: 200 });
      expect(rowsOf(join(dataDir, 'agent.db'), 'property-store')).toEqual({ WorkMode: 2, DeviceAlias: 'new' });
      expect(existsSync(legacy)).toBe(false);
    } finally {
      await h.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a set spanning two plugins is answered only after both applied, the store on disk', async () => {
    const finished: string[] = [];
    const slow = definePlugin({
      name: 'slow',
      setup: () => ({
        properties: {
          ids: ['ReportInterval'],
          async apply() {
            await new Promise((r) => setTimeout(r, 300));
            finished.push('slow');
          },
        },
      }),
    });
    const h = await startHarness({ broker: 'aedes', plugins: [{ module: 'slow', plugin: slow }] });
    try {
      const t0 = Date.now();
      await h.send(SET, { id: '8001', version: '1.0', params: { ReportInterval: 60, DeviceAlias: 'both' } });
      const reply = await h.next(isReplyTo('8001'));
      expect(reply.json).toMatchObject({ code: 200 });
      expect(finished).toEqual(['slow']);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
      expect(rowsOf(join(h.dataDir, 'agent.db'), 'property-store')).toEqual({ DeviceAlias: 'both' });
    } finally {
      await h.close();
    }
  });
});
