/**
 * Where OTA jobs and their downloads live across restarts: two tables of the agent's SQLite file
 * (agent/storage). A job row holds the notice and the job's state; a file row holds one file's download state
 * (job, file, durable offset, size, digest). The offset is written only after the staged bytes up to it have been
 * fsynced (agent/ota/http-download.ts), so after a kill -9 or a power cut the row never claims bytes the disk lost.
 */
import type Database from 'better-sqlite3';
import type { AgentDb } from '../storage';
import { storageFailure } from '../storage/errors';
import type { OtaNotice } from './notice';

/** `downloading` (and verifying), `installing`, `installed`: waiting for the new version to prove healthy. */
export type JobState = 'downloading' | 'installing' | 'installed';

export interface StoredJob {
  /** `productKey/deviceName` of the device the job is for. */
  device: string;
  module: string;
  key: string;
  notice: OtaNotice;
  state: JobState;
  previousVersion?: string;
  /** Starts of the agent since the install (counted before anything else runs, so a crash loop counts too). */
  boots: number;
  updatedAt: number;
}

export interface OtaStore {
  jobs(device: string): StoredJob[];
  /** Resolves once the row is durable. */
  putJob(job: StoredJob): Promise<void>;
  /** The durable offset of file `idx` (0 when none is recorded). */
  offset(device: string, module: string, idx: number): number;
  /** Records an offset whose bytes are already on disk; durable with the next WAL fsync (not awaited: a lost record only means a little more to fetch again). */
  setOffset(device: string, module: string, idx: number, offset: number, size: number, sign: string): void;
  /** Drops the job and its file rows; resolves once durable. */
  deleteJob(device: string, module: string): Promise<void>;
  close(): void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS ota_job (
  device TEXT NOT NULL,
  module TEXT NOT NULL,
  job_key TEXT NOT NULL,
  notice TEXT NOT NULL,
  state TEXT NOT NULL,
  previous_version TEXT,
  boots INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (device, module)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ota_file (
  device TEXT NOT NULL,
  module TEXT NOT NULL,
  idx INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  size INTEGER NOT NULL,
  sign TEXT NOT NULL,
  PRIMARY KEY (device, module, idx)
) WITHOUT ROWID;
`;

interface JobRow {
  device: string;
  module: string;
  job_key: string;
  notice: string;
  state: JobState;
  previous_version: string | null;
  boots: number;
  updated_at: number;
}

export class SqliteOtaStore implements OtaStore {
  private readonly stmts: {
    jobs: Database.Statement<[string], JobRow>;
    put: Database.Statement<[string, string, string, string, string, string | null, number, number]>;
    offset: Database.Statement<[string, string, number], { offset: number }>;
    setOffset: Database.Statement<[string, string, number, number, number, string]>;
    delJob: Database.Statement<[string, string]>;
    delFiles: Database.Statement<[string, string]>;
  };

  constructor(private readonly store: AgentDb) {
    const db = store.db;
    try {
      db.exec(SCHEMA);
      this.stmts = {
        jobs: db.prepare('SELECT * FROM ota_job WHERE device = ? ORDER BY module'),
        put: db.prepare(
          'INSERT INTO ota_job (device, module, job_key, notice, state, previous_version, boots, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ' +
            'ON CONFLICT (device, module) DO UPDATE SET job_key = excluded.job_key, notice = excluded.notice, state = excluded.state, previous_version = excluded.previous_version, boots = excluded.boots, updated_at = excluded.updated_at',
        ),
        offset: db.prepare('SELECT offset FROM ota_file WHERE device = ? AND module = ? AND idx = ?'),
        setOffset: db.prepare(
          'INSERT INTO ota_file (device, module, idx, offset, size, sign) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device, module, idx) DO UPDATE SET offset = excluded.offset, size = excluded.size, sign = excluded.sign',
        ),
        delJob: db.prepare('DELETE FROM ota_job WHERE device = ? AND module = ?'),
        delFiles: db.prepare('DELETE FROM ota_file WHERE device = ? AND module = ?'),
      };
    } catch (e) {
      throw storageFailure(`preparing the ota tables in ${store.file}`, e);
    }
  }

  jobs(device: string): StoredJob[] {
    return this.stmts.jobs.all(device).map((r) => ({
      device: r.device,
      module: r.module,
      key: r.job_key,
      notice: JSON.parse(r.notice) as OtaNotice,
      state: r.state,
      ...(r.previous_version !== null ? { previousVersion: r.previous_version } : {}),
      boots: r.boots,
      updatedAt: r.updated_at,
    }));
  }

  putJob(j: StoredJob): Promise<void> {
    return this.store.writeDurably(() => this.stmts.put.run(j.device, j.module, j.key, JSON.stringify(j.notice), j.state, j.previousVersion ?? null, j.boots, j.updatedAt));
  }

  offset(device: string, module: string, idx: number): number {
    return this.stmts.offset.get(device, module, idx)?.offset ?? 0;
  }

  setOffset(device: string, module: string, idx: number, offset: number, size: number, sign: string): void {
    this.store.commitAfterOthers(() => this.stmts.setOffset.run(device, module, idx, offset, size, sign));
    this.store.syncLater(() => undefined);
  }

  deleteJob(device: string, module: string): Promise<void> {
    return this.store.writeDurably(() => {
      this.stmts.delFiles.run(device, module);
      this.stmts.delJob.run(device, module);
    });
  }

  close(): void {
    // The handle belongs to the stores; nothing of ours to release.
  }
}

/** For an agent without stores: jobs are forgotten on restart, downloads start from zero. */
export class MemoryOtaStore implements OtaStore {
  private readonly rows = new Map<string, StoredJob>();
  private readonly offsets = new Map<string, number>();

  jobs(device: string): StoredJob[] {
    return [...this.rows.values()].filter((j) => j.device === device).map((j) => structuredClone(j));
  }
  putJob(job: StoredJob): Promise<void> {
    this.rows.set(`${job.device}\n${job.module}`, structuredClone(job));
    return Promise.resolve();
  }
  offset(device: string, module: string, idx: number): number {
    return this.offsets.get(`${device}\n${module}\n${idx}`) ?? 0;
  }
  setOffset(device: string, module: string, idx: number, offset: number): void {
    this.offsets.set(`${device}\n${module}\n${idx}`, offset);
  }
  deleteJob(device: string, module: string): Promise<void> {
    this.rows.delete(`${device}\n${module}`);
    for (const k of [...this.offsets.keys()]) if (k.startsWith(`${device}\n${module}\n`)) this.offsets.delete(k);
    return Promise.resolve();
  }
  close(): void {}
}
