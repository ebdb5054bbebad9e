/**
 * CONNECT credentials for each attempt. Every attempt signs a fresh timestamp, so a reconnect never replays the
 * CONNECT of an earlier one (the official Node SDK re-sends the first one forever, docs/protocol/wire-capture.md, "Device SDK: CONNECT").
 */
import { buildCredentials, ConnectCredentials, SignMethod } from '../../thing-model/wire';
import type { Secret } from '../config/secret';

export interface CredentialOptions {
  productKey: string;
  deviceName: string;
  /** The `{cid}` part; defaults to `{productKey}.{deviceName}`. */
  clientId?: string;
  secret: Secret;
  signMethod: SignMethod;
  secureMode: 2 | 3;
  now?: () => number;
}

/** One attempt's credentials and the timestamp they sign. */
export interface AttemptCredentials extends ConnectCredentials {
  timestamp: number;
}

export class CredentialSource {
  private lastTimestamp = 0;
  private readonly now: () => number;

  constructor(private readonly opts: CredentialOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Credentials for the next attempt. `ext` adds `ext=1` (custom-topic RRPC, docs/protocol/rrpc.md, "Custom-topic RRPC"). */
  next(ext: boolean): AttemptCredentials {
    // Strictly increasing, even for two attempts inside one millisecond.
    const timestamp = Math.max(this.now(), this.lastTimestamp + 1);
    this.lastTimestamp = timestamp;
    const creds = buildCredentials({
      productKey: this.opts.productKey,
      deviceName: this.opts.deviceName,
      deviceSecret: this.opts.secret.reveal(),
      signMethod: this.opts.signMethod,
      secureMode: this.opts.secureMode,
      timestamp,
      ...(this.opts.clientId === undefined ? {} : { clientId: this.opts.clientId }),
      ...(ext ? { extra: { ext: '1' } } : {}),
    });
    return { ...creds, timestamp };
  }
}
