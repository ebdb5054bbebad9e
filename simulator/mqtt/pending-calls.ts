/**
 * Synchronous calls waiting for a device's answer (RRpc, and sync services over RRPC), keyed by the RRPC
 * message id. An answer counts only when it comes on the expected topic from the expected device.
 */
import type { DeviceId } from './acl';

interface Pending {
  device: DeviceId;
  responseTopic: string;
  resolve(payload: Buffer | undefined): void;
  timer: NodeJS.Timeout;
}

export class PendingCalls {
  private readonly calls = new Map<string, Pending>();

  /** Resolves with the answer's payload, or undefined after `timeoutMs` (or when cancelled). */
  wait(messageId: string, device: DeviceId, responseTopic: string, timeoutMs: number): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.calls.delete(messageId);
        resolve(undefined);
      }, timeoutMs);
      this.calls.set(messageId, { device, responseTopic, resolve, timer });
    });
  }

  /** Delivers an answer; false when no call waits for it (unknown id, wrong topic or device, or too late). */
  settle(messageId: string, topic: string, payload: Buffer, origin?: DeviceId): boolean {
    const p = this.calls.get(messageId);
    if (!p || p.responseTopic !== topic) return false;
    if (origin && (origin.productKey !== p.device.productKey || origin.deviceName !== p.device.deviceName)) return false;
    this.calls.delete(messageId);
    clearTimeout(p.timer);
    p.resolve(payload);
    return true;
  }

  /** Forgets one call (its request could not be sent); it resolves with undefined. */
  cancel(messageId: string): void {
    const p = this.calls.get(messageId);
    if (!p) return;
    this.calls.delete(messageId);
    clearTimeout(p.timer);
    p.resolve(undefined);
  }

  cancelAll(): void {
    for (const p of this.calls.values()) {
      clearTimeout(p.timer);
      p.resolve(undefined);
    }
    this.calls.clear();
  }
}
