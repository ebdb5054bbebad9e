/**
 * The seam between the platform's Alink logic and the MQTT broker it talks through: the embedded aedes broker
 * (device authentication, ACL, connection events) or a client connection to an external MQTT 5 broker.
 */
import type { DeviceId } from './acl';

export interface Mqtt5Properties {
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: Record<string, string | string[]>;
}

export interface DownstreamOptions {
  qos: 0 | 1;
  /** Sent only where the broker speaks MQTT 5 (managed, external); the embedded broker is MQTT 3.1.1. */
  properties?: Mqtt5Properties;
}

/** Where a link delivers what devices send and when they come and go. */
export interface UplinkSink {
  /** `origin` is the authenticated device where the broker says (embedded); otherwise the topic names it. */
  uplink(topic: string, payload: Buffer, origin?: DeviceId): void;
  deviceConnected(id: DeviceId, info: { clientId: string; keepalive: number; clientParams: Record<string, string> }): void;
  deviceDisconnected(id: DeviceId, info: { clientId: string; graceful: boolean }): void;
}

export interface MqttLink {
  readonly mode: 'embedded' | 'managed' | 'external';
  /** Resolves with the URL devices connect to. */
  start(): Promise<string>;
  stop(): Promise<void>;
  publish(topic: string, payload: Buffer, opts: DownstreamOptions): Promise<void>;
  /**
   * Ends the device's own live connection, if any, as a clean end (DeleteDevice, DisableThing). Absent where the
   * simulator does not run the broker (external mode).
   */
  disconnect?(id: DeviceId): void;
}
