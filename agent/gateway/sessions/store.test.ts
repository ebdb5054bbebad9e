/** The sub-device table in a real SQLite file: rows survive a reopen; a deletion is durable. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openAgentDb } from '../../storage';
import { SqliteSubDeviceStore } from './store';

describe('SqliteSubDeviceStore', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sub-store-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps added devices, registered secrets, topology and disabled flags across a reopen', async () => {
    const file = join(dir, 'agent.db');
    let db = openAgentDb({ file });
    let store = new SqliteSubDeviceStore(db);
    await store.put({ productKey: 'a1Sub', deviceName: 'm-0001', added: true, secret: 'registered', topology: true, disabled: false });
    await store.put({ productKey: 'a1Sub', deviceName: 'm-0002', added: false, topology: false, disabled: true });
    await store.put({ productKey: 'a1Sub', deviceName: 'm-0003', added: true, topology: false, disabled: false });
    await store.delete('a1Sub', 'm-0003');
    db.close();
    db = openAgentDb({ file });
    store = new SqliteSubDeviceStore(db);
    expect(store.list()).toEqual([
      { productKey: 'a1Sub', deviceName: 'm-0001', added: true, secret: 'registered', topology: true, disabled: false },
      { productKey: 'a1Sub', deviceName: 'm-0002', added: false, topology: false, disabled: true },
    ]);
    await store.put({ productKey: 'a1Sub', deviceName: 'm-0002', added: false, topology: true, disabled: false });
    expect(store.list()[1]).toMatchObject({ topology: true, disabled: false });
    db.close();
  });
});
