/** The health listener's error table. */

export type HealthErrorCode = 'HEALTH_LISTEN_FAILED';

/** A problem of the health/metrics listener, with a stable `code`. */
export class HealthError extends Error {
  constructor(
    readonly code: HealthErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'HealthError';
  }
}

export const HealthErrors = {
  listenFailed: (host: string, port: number, cause: NodeJS.ErrnoException) =>
    new HealthError(
      'HEALTH_LISTEN_FAILED',
      `health.host/health.port: cannot listen on ${host}:${port}: ${cause.code ?? 'error'} (${cause.message}); expected a free port on a local address, or port 0 for any free port`,
      { host, port, errno: cause.code },
    ),
};
