/**
 * What the platform knows about each device: connection status, last reported property values, recent events
 * and the replies the device sent to platform requests. Per simulator instance; nothing is global.
 */
import { Ring } from './ring';

export type DeviceStatus = 'ONLINE' | 'OFFLINE' | 'UNACTIVE';
/** How an RRPC call would find the device right now (seed 002: OFFLINE, or HALFCONN within a heartbeat). */
export type Reachability = 'ONLINE' | 'OFFLINE' | 'HALFCONN';

export interface PropertyValue {
  value: unknown;
  /** Epoch ms: the device's `time` when it sent one, else when the post arrived. */
  time: number;
}

export interface EventRecord {
  identifier: string;
  eventType: string;
  name: string;
  /** The event's params.value as JSON text (the API's OutputData). */
  outputData: string;
  time: number;
}

export type DeviceReplyKind = 'propertySetReply' | 'serviceReply' | 'rrpcResponse' | 'extRrpcResponse' | 'rawReply' | 'configPushReply';

/** A reply a device sent to something the platform asked; `sim.deviceReplies(pk, dn)` returns these. */
export interface DeviceReply {
  productKey: string;
  deviceName: string;
  kind: DeviceReplyKind;
  topic: string;
  /** The Alink reply `id` (for RRPC: the message id from the topic). */
  id?: string;
  code?: number;
  data?: unknown;
  message?: string;
  serviceId?: string;
  /** The whole payload, as received. */
  payload: Buffer;
  /** Parsed JSON payload, when it was JSON. */
  json?: unknown;
  /** True when no pending call was waiting for it any more (it came after the timeout). */
  late?: boolean;
  receivedAt: number;
}

export interface DeviceState {
  status: DeviceStatus;
  statusAt: number;
  /** Keepalive of the current or last connection, seconds. */
  keepalive?: number;
  /** Whether the last connection ended with an MQTT DISCONNECT. */
  gracefulDisconnect?: boolean;
  lastSeenAt?: number;
  /** The clientId's `|k=v|` parameters of the current connection (embedded broker only). */
  clientParams?: Record<string, string>;
  properties: Map<string, PropertyValue>;
  /** Every reported value per property, as posted (ordinary, batch and history posts), the last limits.eventHistory each. */
  propertyHistory: Map<string, Ring<PropertyValue>>;
  events: Ring<EventRecord>;
  replies: Ring<DeviceReply>;
}

export class DeviceStateStore {
  private readonly states = new Map<string, DeviceState>();

  constructor(private readonly limits: { eventHistory: number; replyHistory: number }) {}

  get(productKey: string, deviceName: string): DeviceState {
    const key = `${productKey}/${deviceName}`;
    let s = this.states.get(key);
    if (!s) {
      s = {
        status: 'UNACTIVE',
        statusAt: Date.now(),
        properties: new Map(),
        propertyHistory: new Map(),
        events: new Ring(this.limits.eventHistory),
        replies: new Ring(this.limits.replyHistory),
      };
      this.states.set(key, s);
    }
    return s;
  }

  /** Keeps `v` in the property's history (what QueryDevicePropertyData reads). */
  recordValue(state: DeviceState, identifier: string, v: PropertyValue): void {
    let ring = state.propertyHistory.get(identifier);
    if (!ring) state.propertyHistory.set(identifier, (ring = new Ring(this.limits.eventHistory)));
    ring.push(v);
  }

  /** DeleteDevice: what the platform knew about the device goes with it. */
  forget(productKey: string, deviceName: string): void {
    this.states.delete(`${productKey}/${deviceName}`);
  }

  peek(productKey: string, deviceName: string): DeviceState | undefined {
    return this.states.get(`${productKey}/${deviceName}`);
  }

  markOnline(productKey: string, deviceName: string, info: { keepalive?: number; clientParams?: Record<string, string> }, now: number): void {
    const s = this.get(productKey, deviceName);
    s.status = 'ONLINE';
    s.statusAt = now;
    s.lastSeenAt = now;
    s.keepalive = info.keepalive;
    s.clientParams = info.clientParams;
    s.gracefulDisconnect = undefined;
  }

  markOffline(productKey: string, deviceName: string, graceful: boolean, now: number): void {
    const s = this.get(productKey, deviceName);
    s.status = 'OFFLINE';
    s.statusAt = now;
    s.gracefulDisconnect = graceful;
    s.clientParams = undefined;
  }

  /**
   * A device that dropped without DISCONNECT less than 1.5 × keepalive ago is HALFCONN: the platform cannot yet
   * tell a dead link from a slow one. A clean DISCONNECT makes it OFFLINE at once.
   */
  reachability(productKey: string, deviceName: string, now: number): Reachability {
    const s = this.peek(productKey, deviceName);
    if (!s || s.status === 'UNACTIVE') return 'OFFLINE';
    if (s.status === 'ONLINE') return 'ONLINE';
    if (s.gracefulDisconnect === false && s.keepalive && now - s.statusAt < s.keepalive * 1500) return 'HALFCONN';
    return 'OFFLINE';
  }
}
