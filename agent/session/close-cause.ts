/**
 * Why a connection attempt or a connection ended, from the facts the session gathered about it: pure, so every
 * rule (duplicate login, server DISCONNECT, errors MQTT.js emitted) is tested without a broker.
 */
import { classifyError, SESSION_TAKEN_OVER, type DisconnectCause } from './causes';

/** A connection closed by the server this many times in a row, each soon after CONNACK, means a duplicate login. */
export const KICKS_BEFORE_DUPLICATE_LOGIN = 2;

/** What the session knows when a connection (or an attempt) closes. */
export interface CloseFacts {
  /** How long the connection lived after CONNACK; undefined when it closed before CONNACK. */
  lifetimeMs: number | undefined;
  /** `broker.reconnect.stableMs`: a shorter life counts as short-lived. */
  stableMs: number;
  /** Short-lived connections in a row before this one. */
  shortLivedInARow: number;
  /** Reason code of the broker's MQTT 5 DISCONNECT, if it sent one. */
  serverDisconnectReason: number | undefined;
  /** The last error MQTT.js emitted during the attempt. */
  attemptError: Error | undefined;
  protocolVersion: 4 | 5;
}

export interface CloseVerdict {
  cause: DisconnectCause;
  error: Error;
  /** The new count of short-lived connections in a row. */
  shortLivedInARow: number;
}

export function classifyClose(f: CloseFacts): CloseVerdict {
  const fromError = (fallback: string): Pick<CloseVerdict, 'cause' | 'error'> =>
    f.attemptError ? { cause: classifyError(f.attemptError, f.protocolVersion), error: f.attemptError } : { cause: 'network', error: new Error(fallback) };
  if (f.lifetimeMs === undefined) return { ...fromError('connection closed before CONNACK'), shortLivedInARow: f.shortLivedInARow };
  const shortLivedInARow = f.lifetimeMs < f.stableMs ? f.shortLivedInARow + 1 : 0;
  const reason = f.serverDisconnectReason;
  if (reason === SESSION_TAKEN_OVER) {
    return { cause: 'kicked', error: new Error('the broker disconnected this session: session taken over (0x8e)'), shortLivedInARow };
  }
  if (shortLivedInARow >= KICKS_BEFORE_DUPLICATE_LOGIN) {
    return { cause: 'kicked', error: new Error(`the broker closed ${shortLivedInARow} connections in a row within ${f.stableMs} ms of CONNACK`), shortLivedInARow };
  }
  if (reason !== undefined) return { cause: 'server', error: new Error(`the broker sent DISCONNECT with reason code 0x${reason.toString(16)}`), shortLivedInARow };
  return { ...fromError('connection lost'), shortLivedInARow };
}

/** Causes an operator must act on are errors; the others (the network, the broker) are warnings. */
export function closeLogLevel(cause: DisconnectCause): 'error' | 'warn' {
  return cause === 'auth' || cause === 'tls' || cause === 'kicked' ? 'error' : 'warn';
}
