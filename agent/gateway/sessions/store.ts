/**
 * What the agent learns about its sub-devices, kept in the agent's SQLite file (docs/protocol/gateway.md,
 * "What is kept"): devices plugins added at run time, secrets obtained by registration or given by a plugin, whether
 * the cloud's topology is known to be in place, and whether the cloud disabled the device. A restart then neither
 * registers nor adds again what is already there. Configured secrets stay in the configuration; none is ever logged.
 */
import type Database from 'better-sqlite3';
import type { AgentDb } from '../../storage';
import { storageFailure } from '../../storage/errors';

export interface StoredSubDevice {
  productKey: string;
  deviceName: string;
  /** Added by a plugin (`ctx.gateway.add`), not from the configuration. */
  added: boolean;
  /** A secret the agent obtained (registration) or a plugin gave. */
  secret?: string;
  /** The cloud has the topology with this gateway (topo/add or topo/get said so). */
  topology: boolean;
  disabled: boolean;
}

export interface SubDeviceStore {
  list(): StoredSubDevice[];
  /** Resolves once the row is durable. */
  put(d: StoredSubDevice): Promise<void>;
  /** Resolves once the deletion is durable. */
  delete(productKey: string, deviceName: string): Promise<void>;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sub_device (
  product_key TEXT NOT NULL,
  device_name TEXT NOT NULL,
  added INTEGER NOT NULL,
  secret TEXT,
  topology INTEGER NOT NULL,
  disabled INTEGER NOT NULL,
  PRIMARY KEY (product_key, device_name)
) WITHOUT ROWID;
`;

interface Row {
  product_key: string;
  device_name: string;
  added: number;
  secret: string | null;
  topology: number;
  disabled: number;
}

export class SqliteSubDeviceStore implements SubDeviceStore {
  private readonly stmts: {
    list: Database.Statement<[], Row>;
    put: Database.Statement<[string, string, number, string | null, number, number]>;
    del: Database.Statement<[string, string]>;
  };

  constructor(private readonly store: AgentDb) {
    const db = store.db;
    try {
      db.exec(SCHEMA);
      this.stmts = {
        list: db.prepare('SELECT * FROM sub_device ORDER BY product_key, device_name'),
        put: db.prepare(
          'INSERT INTO sub_device (product_key, device_name, added, secret, topology, disabled) VALUES (?, ?, ?, ?, ?, ?) ' +
            'ON CONFLICT (product_key, device_name) DO UPDATE SET added = excluded.added, secret = excluded.secret, topology = excluded.topology, disabled = excluded.disabled',
        ),
        del: db.prepare('DELETE FROM sub_device WHERE product_key = ? AND device_name = ?'),
      };
    } catch (e) {
      throw storageFailure(`preparing the sub_device table in ${store.file}`, e);
    }
  }

  list(): StoredSubDevice[] {
    return this.stmts.list.all().map((r) => ({
      productKey: r.product_key,
      deviceName: r.device_name,
      added: r.added === 1,
      ...(r.secret !== null ? { secret: r.secret } : {}),
      topology: r.topology === 1,
      disabled: r.disabled === 1,
    }));
  }

  put(d: StoredSubDevice): Promise<void> {
    return this.store.writeDurably(() => this.stmts.put.run(d.productKey, d.deviceName, d.added ? 1 : 0, d.secret ?? null, d.topology ? 1 : 0, d.disabled ? 1 : 0));
  }

  delete(productKey: string, deviceName: string): Promise<void> {
    return this.store.writeDurably(() => this.stmts.del.run(productKey, deviceName));
  }
}

/** For an agent without stores: what it learned is gone on restart (it registers and adds again). */
export class MemorySubDeviceStore implements SubDeviceStore {
  private readonly rows = new Map<string, StoredSubDevice>();

  list(): StoredSubDevice[] {
    return [...this.rows.values()].map((r) => ({ ...r }));
  }
  put(d: StoredSubDevice): Promise<void> {
    this.rows.set(`${d.productKey}/${d.deviceName}`, { ...d });
    return Promise.resolve();
  }
  delete(productKey: string, deviceName: string): Promise<void> {
    this.rows.delete(`${productKey}/${deviceName}`);
    return Promise.resolve();
  }
}
