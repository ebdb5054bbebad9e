/**
 * The lifecycle error table: one constructor per failure of the systemd integration. None of them stops the
 * agent; they are logged and the integration carries on without the part that failed.
 */

export type LifecycleErrorCode = 'LIFECYCLE_NOTIFY_UNAVAILABLE' | 'LIFECYCLE_NOTIFY_FAILED' | 'LIFECYCLE_WATCHDOG_ENV_INVALID';

/** A systemd integration problem, with a stable `code`. */
export class LifecycleError extends Error {
  constructor(
    readonly code: LifecycleErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'LifecycleError';
  }
}

export const LifecycleErrors = {
  notifyUnavailable: (dir: string | undefined, cause: string) =>
    new LifecycleError(
      'LIFECYCLE_NOTIFY_UNAVAILABLE',
      dir === undefined
        ? `systemd notify addon not found: expected native/package.json (alink-agent-native) above the agent's files, received none; ${cause}`
        : `systemd notify addon in ${dir} cannot be loaded: ${cause} (build it with: node native/scripts/build.js)`,
      { dir, cause },
    ),
  notifyFailed: (socket: string, fields: string, errno: string, cause: string) =>
    new LifecycleError('LIFECYCLE_NOTIFY_FAILED', `systemd notify ${fields} to NOTIFY_SOCKET=${socket} failed: ${cause}`, { socket, fields, errno }),
  watchdogEnvInvalid: (key: string, received: string) =>
    new LifecycleError('LIFECYCLE_WATCHDOG_ENV_INVALID', `${key}: expected a positive integer (microseconds), received ${JSON.stringify(received)}; watchdog pings disabled`, {
      key,
      received,
    }),
};
