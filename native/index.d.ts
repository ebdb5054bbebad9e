/**
 * alink-agent-native: the datagram side of systemd's notify protocol (sd_notify(3)), which Node's `dgram`
 * cannot do (it has no AF_UNIX datagram sockets).
 */

/** A failure of the underlying system call, shaped like Node's own system errors. */
export interface NotifyError extends Error {
  /** Symbolic errno, e.g. `ECONNREFUSED`, `ENOENT`, `EAGAIN` (receiver queue full), `EAFNOSUPPORT`. */
  code: string;
  /** Positive errno value. */
  errno: number;
  /** `socket`, `connect` (address rejected before sending) or `sendto`. */
  syscall: string;
  /** The socket address as given. */
  address: string;
}

/**
 * Sends one notification, e.g. `READY=1` or `STATUS=connected\nWATCHDOG=1` (newline-separated assignments).
 *
 * @param state - the assignments; at most 4096 bytes (systemd's buffer), never empty.
 * @param socketPath - `/path` for a filesystem socket or `@name` for an abstract one; defaults to
 *   `process.env.NOTIFY_SOCKET`.
 * @returns `true` when the datagram was sent, `false` when there is no socket to send to (not run by systemd).
 * @throws {@link NotifyError} when the socket cannot be reached or the message is refused; never blocks
 *   (a full receiver queue is `EAGAIN`).
 */
export declare function notify(state: string, socketPath?: string): boolean;

/** `CLOCK_MONOTONIC` in microseconds, the clock systemd expects in `MONOTONIC_USEC=` (sent with `RELOADING=1`). */
export declare function monotonicUsec(): bigint;

/** Absolute path of the loaded `.node` file. */
export declare const path: string;
