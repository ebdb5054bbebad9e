/**
 * Sub-device sessions (docs/protocol/gateway.md): after every connect a round reconciles topology with the cloud
 * (`topo/get`), registers what has no secret, adds the topology that is missing, then logs in every eligible
 * sub-device in batches, paced under the platform's rate; each is reported online only once its subscriptions are in
 * place. Rounds run one at a time; anything that changes what should be logged in asks for another. A round that
 * failed for a reason a retry can fix is retried with backoff (`gateway.retry`).
 */
import type { Logger } from 'pino';
import { AlinkCodes, CloudReplyError } from '../../../thing-model/codes';
import type { DeviceIdentity } from '../../../thing-model/wire';
import type { ResolvedGateway } from '../../config/sub-devices';
import { Secret } from '../../config/secret';
import type { SubDeviceTrafficSide } from '../traffic';
import { subDeviceKey } from '../directory';
import { chunks, RateWindow, windowFillingSize } from './pacing';
import type { SubDeviceRecord, SubDeviceRecords } from './records';
import { identities, type GatewayRequests } from './requests';
import type { SubDeviceStore } from './store';

export interface GatewaySessionsDeps {
  records: SubDeviceRecords;
  requests: GatewayRequests;
  traffic: SubDeviceTrafficSide;
  store: SubDeviceStore;
  config: ResolvedGateway;
  logger: Logger;
  now?: () => number;
}

/** Login refusals no retry can fix: the device waits for a change (new secret, enable, restart). */
const FATAL_LOGIN = new Set<number>([AlinkCodes.SUB_DEVICE_BAD_SIGN, AlinkCodes.DEVICE_LOOKUP_FAILED]);
/** topo/add and registration refusals no retry can fix. */
const FATAL_SETUP = new Set<number>([AlinkCodes.TOPO_SIGN_CHECK_FAILED, AlinkCodes.DEVICE_LOOKUP_FAILED, AlinkCodes.GATEWAY_CANNOT_ADD_ITSELF, AlinkCodes.DYNAMIC_REGISTRATION_OFF, AlinkCodes.GATEWAY_TOO_MANY_SUB_DEVICES]);

const reasonOf = (e: CloudReplyError) => `${e.code} ${e.message}`;

export class GatewaySessions {
  private generation = 0;
  private connected = false;
  private stopped = false;
  private dirty = false;
  private fullReconcile = false;
  private running: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs: number | undefined;
  private readonly rate: RateWindow;
  private readonly log: Logger;

  constructor(private readonly deps: GatewaySessionsDeps) {
    this.rate = new RateWindow(deps.config.loginsPerSecond, deps.now);
    this.log = deps.logger;
  }

  /** The gateway's connection is up with its own subscriptions: reconcile and log everything in. */
  onConnected(): void {
    this.generation++;
    this.connected = true;
    this.fullReconcile = true;
    this.kick();
  }

  /** The connection is gone, and every sub-device session with it. */
  onDisconnected(): void {
    if (!this.connected) return;
    this.generation++;
    this.connected = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    for (const r of this.deps.records.records()) {
      if (r.entry.state === 'online' || r.entry.state === 'loggingIn') this.deps.records.setState(r, 'offline', 'gateway disconnected');
    }
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    clearTimeout(this.retryTimer);
  }

  /** Something changed: run a round (now, or after the one running). */
  kick(): void {
    this.dirty = true;
    if (this.running || !this.connected || this.stopped) return;
    this.running = this.loop().finally(() => {
      this.running = undefined;
    });
  }

  /** Resolves when no round is running (tests, shutdown). */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /** Logs one online sub-device out (lost, removed); its subscriptions are dropped first so nothing half-arrives. */
  async logout(r: SubDeviceRecord, state: 'offline' | 'disabled' | 'failed', reason: string): Promise<void> {
    const wasOn = r.entry.state === 'online';
    this.deps.records.setState(r, state, reason);
    if (!wasOn || !this.connected) return;
    await this.deps.traffic.afterOffline(r.entry);
    await this.deps.requests.batchLogout([r.id]).catch((err: unknown) => this.log.warn({ device: r.key, err: (err as Error).message }, 'sub-device logout not confirmed'));
  }

  /** Persists what the store keeps of a record. */
  persist(r: SubDeviceRecord): Promise<void> {
    return this.deps.store.put({ ...r.id, added: r.added, ...(r.secret && r.added ? { secret: r.secret.reveal() } : {}), ...(r.registered ? { secret: r.registered } : {}), topology: r.topology, disabled: r.disabled });
  }

  private async loop(): Promise<void> {
    while (this.dirty && this.connected && !this.stopped) {
      this.dirty = false;
      const gen = this.generation;
      const full = this.fullReconcile;
      this.fullReconcile = false;
      try {
        await this.round(gen, full);
        this.retryMs = undefined;
      } catch (err) {
        if (gen !== this.generation) continue;
        if (full) this.fullReconcile = true;
        this.scheduleRetry(err as Error);
      }
    }
  }

  private scheduleRetry(err: Error): void {
    const { initialMs, maxMs } = this.deps.config.retry;
    this.retryMs = Math.min(maxMs, this.retryMs === undefined ? initialMs : this.retryMs * 2);
    this.log.warn({ err: err.message, retryInMs: this.retryMs }, 'sub-device round failed; retrying');
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, this.retryMs);
    this.retryTimer.unref();
  }

  private live(gen: number): boolean {
    return gen === this.generation && this.connected && !this.stopped;
  }

  private async round(gen: number, full: boolean): Promise<void> {
    // A re-enable sent while the gateway was away is never heard again: after each connect a disabled device is tried
    // once more, and the platform's 6204 puts it back if it still is.
    if (full) for (const r of this.deps.records.records()) if (r.disabled) this.retryDisabled(r);
    if (full && this.deps.config.reconcileTopology) await this.reconcile(gen);
    if (!this.live(gen)) return;
    await this.registerSecrets(gen);
    if (!this.live(gen)) return;
    await this.addTopology(gen);
    if (!this.live(gen)) return;
    await this.login(gen);
  }

  private retryDisabled(r: SubDeviceRecord): void {
    r.disabled = false;
    this.deps.records.setState(r, 'offline', 'was disabled; trying to log in again after the connect');
  }

  /** Active in a round: known, enabled, not given up on. */
  private active(r: SubDeviceRecord): boolean {
    return !r.disabled && r.entry.state !== 'failed' && r.entry.state !== 'disabled';
  }

  private async reconcile(gen: number): Promise<void> {
    const cloud = await this.deps.requests.topoGet();
    if (!this.live(gen)) return;
    const inCloud = new Set(cloud.map(subDeviceKey));
    const changed: Promise<void>[] = [];
    for (const r of this.deps.records.records()) {
      const has = inCloud.has(r.key);
      if (has !== r.topology) {
        r.topology = has;
        changed.push(this.persist(r));
      }
    }
    await Promise.all(changed);
    if (!this.deps.config.pruneTopology) return;
    const strangers = cloud.filter((d) => !this.deps.records.record(d));
    for (const part of chunks(strangers, this.deps.config.topoBatchSize)) {
      const removed = await this.deps.requests.topoDelete(part);
      this.log.info({ removed: removed.length }, 'cloud topology the agent does not know deleted (gateway.pruneTopology)');
    }
  }

  private async registerSecrets(gen: number): Promise<void> {
    const need = this.deps.records.records().filter((r) => !r.secret && this.active(r));
    for (const part of chunks(need, this.deps.config.topoBatchSize)) {
      if (!this.live(gen)) return;
      let got: { id: DeviceIdentity; deviceSecret: string }[];
      try {
        got = await this.deps.requests.register(part.map((r) => r.id));
      } catch (err) {
        if (!(err instanceof CloudReplyError) || !FATAL_SETUP.has(err.code)) throw err;
        for (const r of part) this.deps.records.setState(r, 'failed', `registration refused: ${reasonOf(err)}`);
        continue;
      }
      const secrets = new Map(got.map((g) => [subDeviceKey(g.id), g.deviceSecret]));
      for (const r of part) {
        const s = secrets.get(r.key);
        if (s === undefined) {
          this.deps.records.setState(r, 'failed', 'registration returned no secret for it');
          continue;
        }
        r.secret = new Secret(s);
        r.registered = s;
        await this.persist(r);
        this.log.info({ device: r.key }, 'sub-device registered; its secret is kept in the agent database');
      }
    }
  }

  private async addTopology(gen: number): Promise<void> {
    const need = this.deps.records.records().filter((r) => r.secret && !r.topology && this.active(r));
    for (const part of chunks(need, this.deps.config.topoBatchSize)) {
      if (!this.live(gen)) return;
      let added: DeviceIdentity[];
      try {
        added = await this.deps.requests.topoAdd(part.map((r) => ({ id: r.id, secret: r.secret as Secret })));
      } catch (err) {
        if (!(err instanceof CloudReplyError) || !FATAL_SETUP.has(err.code)) throw err;
        for (const r of part) this.deps.records.setState(r, 'failed', `topology refused: ${reasonOf(err)}`);
        continue;
      }
      const ok = new Set(added.map(subDeviceKey));
      for (const r of part) {
        if (!ok.has(r.key)) {
          this.deps.records.setState(r, 'failed', 'topo/add did not add it (bad sign, unknown device or too many sub-devices)');
          continue;
        }
        r.topology = true;
        await this.persist(r);
      }
      this.log.info({ added: ok.size, asked: part.length }, 'sub-device topology added');
    }
  }

  private eligible(): SubDeviceRecord[] {
    return this.deps.records.records().filter((r) => r.secret && r.topology && r.reachable && this.active(r) && (r.entry.state === 'pending' || r.entry.state === 'offline'));
  }

  private async login(gen: number): Promise<void> {
    const cfg = this.deps.config;
    for (const part of chunks(this.eligible(), windowFillingSize(cfg.loginBatchSize, cfg.loginsPerSecond))) {
      await this.rate.take(part.length);
      if (!this.live(gen)) return;
      // Eligibility may have changed while waiting for the window (removed, lost, disabled).
      const batch = part.filter((r) => this.deps.records.record(r.id) === r && r.reachable && this.active(r) && r.entry.state !== 'online');
      if (batch.length === 0) continue;
      for (const r of batch) this.deps.records.setState(r, 'loggingIn');
      try {
        await this.deps.requests.batchLogin(batch.map((r) => ({ id: r.id, secret: r.secret as Secret })));
      } catch (err) {
        for (const r of batch) if (r.entry.state === 'loggingIn') this.deps.records.setState(r, 'offline', `login failed: ${(err as Error).message}`);
        if (!(err instanceof CloudReplyError)) throw err;
        await this.loginRefused(batch, err);
        continue;
      }
      if (!this.live(gen)) return;
      await Promise.all(batch.map((r) => this.online(r, gen)));
    }
  }

  private async online(r: SubDeviceRecord, gen: number): Promise<void> {
    try {
      await this.deps.traffic.beforeOnline(r.entry);
    } catch (err) {
      if (!this.live(gen)) return;
      this.deps.records.setState(r, 'offline', `subscriptions refused: ${(err as Error).message}`);
      this.scheduleRetry(err as Error);
      return;
    }
    if (this.live(gen) && r.entry.state === 'loggingIn') this.deps.records.setState(r, 'online');
  }

  /** A refused batch (all or nothing): the devices it names get what their code says; the others go again. */
  private async loginRefused(batch: SubDeviceRecord[], err: CloudReplyError): Promise<void> {
    const named = new Set(identities(Array.isArray(err.data) ? err.data : [err.data]).map(subDeviceKey));
    const culprits = batch.filter((r) => named.has(r.key));
    if (culprits.length === 0 || err.code === AlinkCodes.TOO_MANY_SUB_DEVICES_ONLINE) throw err;
    for (const r of culprits) {
      if (FATAL_LOGIN.has(err.code)) this.deps.records.setState(r, 'failed', `login refused: ${reasonOf(err)}`);
      else if (err.code === AlinkCodes.DEVICE_DISABLED) {
        r.disabled = true;
        this.deps.records.setState(r, 'disabled', `login refused: ${reasonOf(err)}`);
        await this.persist(r);
      } else if (err.code === AlinkCodes.NO_TOPOLOGY) {
        r.topology = false;
        await this.persist(r);
      } else if (err.code === AlinkCodes.SUB_DEVICE_DUPLICATE_LOGIN) {
        // Online elsewhere: logging it in here would kick the other session, which would log in again...
        r.reachable = false;
        this.log.warn({ device: r.key }, 'sub-device is logged in by another connection; not logging it in here until the driver reports it reachable again');
      } else throw err;
    }
    this.log.warn({ code: err.code, devices: culprits.map((r) => r.key), others: batch.length - culprits.length }, 'batch login refused; logging the others in again');
    this.dirty = true;
  }
}
