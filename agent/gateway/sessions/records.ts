/**
 * The sub-devices this gateway speaks for, as the sessions side keeps them: one record each (identity, product model,
 * secret, what is known of the cloud's side, the driver's view), and the {@link SubDeviceDirectory} the traffic side
 * and the plugins read. Entries handed out are immutable snapshots, replaced on every change.
 */
import type { CompiledThingModel } from '../../../thing-model';
import type { DeviceIdentity } from '../../../thing-model/wire';
import type { SubDeviceState } from '../../../handlers/api';
import type { Secret } from '../../config/secret';
import { subDeviceKey, type SubDeviceDirectory, type SubDeviceEntry } from '../directory';

export interface SubDeviceRecord {
  readonly key: string;
  readonly id: DeviceIdentity;
  readonly model: CompiledThingModel;
  /** Absent until registration gave one. */
  secret: Secret | undefined;
  /** The secret registration gave (kept in the store; a configured one never is). */
  registered?: string;
  /** Added by a plugin at run time (kept in the store), not configured. */
  added: boolean;
  /** The cloud has the topology (as far as the agent knows). */
  topology: boolean;
  disabled: boolean;
  /** The driver's view (`ctx.gateway.setReachable`); a lost device is not logged in. */
  reachable: boolean;
  entry: SubDeviceEntry;
}

type Listener = (entry: SubDeviceEntry, previous: SubDeviceState | undefined) => void;

export class SubDeviceRecords implements SubDeviceDirectory {
  private readonly byKey = new Map<string, SubDeviceRecord>();
  private readonly listeners = new Set<Listener>();
  private readonly removals = new Set<(entry: SubDeviceEntry) => void>();
  private readonly counts = new Map<SubDeviceState, number>();

  constructor(private readonly ownerOf: (d: DeviceIdentity) => string | undefined) {}

  get(productKey: string, deviceName: string): SubDeviceEntry | undefined {
    return this.byKey.get(`${productKey}/${deviceName}`)?.entry;
  }

  list(): readonly SubDeviceEntry[] {
    return [...this.byKey.values()].map((r) => r.entry);
  }

  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called after a record is forgotten (its `offline` change came first, when it was not offline already). */
  onRemoved(listener: (entry: SubDeviceEntry) => void): void {
    this.removals.add(listener);
  }

  record(d: DeviceIdentity): SubDeviceRecord | undefined {
    return this.byKey.get(subDeviceKey(d));
  }

  records(): SubDeviceRecord[] {
    return [...this.byKey.values()];
  }

  get size(): number {
    return this.byKey.size;
  }

  /** How many are in each state (health, metrics, STATUS=). */
  byState(): Record<SubDeviceState, number> {
    const out: Record<SubDeviceState, number> = { pending: 0, loggingIn: 0, online: 0, offline: 0, disabled: 0, failed: 0 };
    for (const [s, n] of this.counts) out[s] = n;
    return out;
  }

  /** Adds a record in state `pending` (or `disabled`); an existing one is returned unchanged. */
  add(fields: Omit<SubDeviceRecord, 'key' | 'entry' | 'reachable'>): SubDeviceRecord {
    const key = subDeviceKey(fields.id);
    const had = this.byKey.get(key);
    if (had) return had;
    const state: SubDeviceState = fields.disabled ? 'disabled' : 'pending';
    const owner = this.ownerOf(fields.id);
    const entry: SubDeviceEntry = { key, ...fields.id, model: fields.model, state, ...(owner ? { owner } : {}) };
    const r: SubDeviceRecord = { ...fields, key, reachable: true, entry };
    this.byKey.set(key, r);
    this.count(state, 1);
    this.emit(entry, undefined);
    return r;
  }

  /** Moves a record to `state`; no-op (no event) when nothing changes. */
  setState(r: SubDeviceRecord, state: SubDeviceState, reason?: string): void {
    const prev = r.entry;
    if (prev.state === state && prev.reason === reason) return;
    const { reason: _old, ...rest } = prev;
    r.entry = { ...rest, state, ...(reason !== undefined ? { reason } : {}) };
    this.count(prev.state, -1);
    this.count(state, 1);
    this.emit(r.entry, prev.state);
  }

  /** Forgets a record; its listeners hear it go `offline` with reason `removed` first. */
  remove(r: SubDeviceRecord, reason = 'removed'): void {
    if (!this.byKey.has(r.key)) return;
    this.setState(r, 'offline', reason);
    this.count('offline', -1);
    this.byKey.delete(r.key);
    for (const l of this.removals) l(r.entry);
  }

  private count(state: SubDeviceState, delta: number): void {
    this.counts.set(state, (this.counts.get(state) ?? 0) + delta);
  }

  private emit(entry: SubDeviceEntry, previous: SubDeviceState | undefined): void {
    for (const l of this.listeners) {
      try {
        l(entry, previous);
      } catch {
        // A listener's failure is its own (plugins' onStateChange is wrapped and logged where it is registered).
      }
    }
  }
}
