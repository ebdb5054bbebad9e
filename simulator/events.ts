/**
 * The simulator's events, for tests and tools that watch what devices do. `CloudSimulator` is this emitter:
 * `sim.on('deviceReply', (r) => ...)`.
 */
import { EventEmitter } from 'node:events';
import type { DeviceReply } from './state/device-state';

export interface SimulatorEvents {
  /** Both URLs listen. */
  ready: [{ httpUrl: string; mqttUrl: string }];
  /** A device connected (embedded, managed), or a sub-device logged in through `gateway`; or (external), managed), or sent its first message after a silence (external). */
  deviceOnline: [{ productKey: string; deviceName: string; clientId?: string; gateway?: { productKey: string; deviceName: string } }];
  /** A device's connection ended (embedded, managed); `graceful` when it sent DISCONNECT. */
  deviceOffline: [{ productKey: string; deviceName: string; graceful: boolean; gateway?: { productKey: string; deviceName: string } }];
  /** A device answered a platform request: set_reply, a service _reply, an RRPC response. */
  deviceReply: [DeviceReply];
  /** A property post arrived and was answered with `code`. */
  propertyPost: [{ productKey: string; deviceName: string; id: string; params: unknown; code: number; message?: string }];
  /** An event post arrived and was answered with `code`. */
  eventPost: [{ productKey: string; deviceName: string; eventId: string; id: string; params: unknown; code: number; message?: string }];
  /** A batch post (LinkSDK's `thing/event/property/batch/post`) arrived and was answered with `code`. */
  batchPost: [{ productKey: string; deviceName: string; id: string; params: unknown; code: number; message?: string }];
  /** A history post (`thing/event/property/history/post`) arrived and was answered with `code`. */
  historyPost: [{ productKey: string; deviceName: string; id: string; params: unknown; code: number; message?: string }];
  /** Any other upstream message (custom `/user/` topics and the like). */
  deviceMessage: [
    {
      productKey?: string;
      deviceName?: string;
      topic: string;
      payload: Buffer;
      /** A custom topic published with `?_sn=default`: what the parse script's transformPayload made of it. */
      parsed?: unknown;
      /** ... or the script's code and why, when it failed (docs/protocol/raw-data.md). */
      scriptError?: { code: number; message: string };
    },
  ];
  /** The platform sent something to a device. */
  downstream: [{ topic: string; payload: Buffer; qos: 0 | 1 }];
}

export type SimulatorEventBus = EventEmitter<SimulatorEvents>;
