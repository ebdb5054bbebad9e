/** The configuration sections of the device channels (agent/wiring/channels.ts); their schema is in schema.ts. */

/** Remote configuration (docs/protocol/remote-config.md). */
export interface RemoteConfigSection {
  /** Ask for the product's configuration file after every connect (`thing.config.get`), when a plugin claims `config`. */
  fetchOnConnect: boolean;
  /** Largest file accepted. */
  maxBytes: number;
  /** Bound on one download (connect + transfer). */
  downloadTimeoutMs: number;
  /** Deadline of the claiming plugin's `apply`. */
  applyTimeoutMs: number;
}

/** Log upload while the platform has it switched on (docs/protocol/log-upload.md). */
export interface LogUploadSection {
  /** Ask for the switch after every connect (`thing.config.log.get`). */
  fetchOnConnect: boolean;
  /** Lowest level uploaded: the agent's warnings and errors, and plugins' lines at this level and above. */
  level: 'fatal' | 'error' | 'warn' | 'info' | 'debug';
  /** Lines uploaded per minute at most; the rest are counted and reported in the next upload. */
  maxPerMinute: number;
  /** Longest `logContent` of one line, in bytes. */
  maxLineBytes: number;
  /** Lines are gathered this long into one `thing.log.post`. */
  batchMs: number;
}
