/**
 * alink-agent-native: the datagram side of systemd's notify protocol (sd_notify(3)), which Node's `dgram`
 * cannot do (it has no AF_UNIX datagram sockets); dropping a file's page cache, which Node's `fs` cannot do; and
 * digests whose updates run on libuv's thread pool, which `node:crypto` cannot do incrementally.
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

/**
 * Drops the pages of `fd`'s file in [offset, offset + length) from the page cache (`posix_fadvise(2)`,
 * `POSIX_FADV_DONTNEED`; `length` 0: to the end), on libuv's thread pool. Only clean pages go: write and fsync a
 * range first. Node's fs has no way to do it.
 *
 * @returns a promise that rejects with an error shaped like {@link NotifyError} (`syscall` `posix_fadvise`, no
 *   `address`), e.g. `EBADF`; a TypeError is thrown at once for arguments that are not non-negative integers.
 */
export declare function dropPageCache(fd: number, offset: number, length: number): Promise<void>;

/** An incremental digest (OpenSSL's, the one inside Node) whose updates run on libuv's thread pool. */
export interface PoolHash {
  /**
   * Adds `data` to the digest on the thread pool. One update at a time: until the promise settles `data` must not
   * change, and `update`, `copy` and `digest` throw (`ERR_INVALID_STATE`).
   */
  update(data: Buffer): Promise<void>;
  /** An independent copy of the state so far. */
  copy(): PoolHash;
  /** The digest; ends the state (any later call throws `ERR_INVALID_STATE`). */
  digest(): Buffer;
}

/**
 * A new digest, e.g. `sha256` or `md5` (OpenSSL names).
 *
 * @returns undefined when Node's OpenSSL symbols cannot be found in the process (use `node:crypto` then).
 * @throws an Error with code `ERR_CRYPTO_INVALID_DIGEST` for an algorithm OpenSSL does not know.
 */
export declare function createPoolHash(algorithm: string): PoolHash | undefined;

/** Absolute path of the loaded `.node` file. */
export declare const path: string;
