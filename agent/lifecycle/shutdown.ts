/**
 * Signals of a running agent process: SIGTERM and SIGINT stop it cleanly (exit 0), a second one while stopping
 * gives up waiting (exit 1), and SIGHUP reloads the configuration without dropping the connection.
 */
import type { Logger } from 'pino';

/** What the signals act on (the `Agent`). */
export interface SignalTarget {
  stop(): Promise<void>;
  reload(): Promise<void>;
}

/** The slice of `process` the handlers use; tests pass an EventEmitter. */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  removeListener(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface SignalOptions {
  logger: Logger;
  /** Called once with the exit code when the process should end. */
  exit(code: number): void;
  /** Longest a clean stop may take before the process exits with 1 anyway. */
  stopTimeoutMs: number;
  source?: SignalSource;
}

const STOP_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/** Installs the handlers; returns a function that removes them. */
export function handleSignals(target: SignalTarget, opts: SignalOptions): () => void {
  const source: SignalSource = opts.source ?? process;
  const log = opts.logger;
  let stopping = false;
  let exited = false;
  const exit = (code: number) => {
    if (exited) return;
    exited = true;
    opts.exit(code);
  };

  const onStop = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second stop signal while stopping: exiting without waiting');
      exit(1);
      return;
    }
    stopping = true;
    log.info({ signal }, 'stop signal received: stopping');
    const timer = setTimeout(() => {
      log.error({ timeoutMs: opts.stopTimeoutMs }, 'clean stop took too long: exiting');
      exit(1);
    }, opts.stopTimeoutMs);
    target.stop().then(
      () => {
        clearTimeout(timer);
        exit(0);
      },
      (err: unknown) => {
        clearTimeout(timer);
        log.error({ err }, 'stop failed');
        exit(1);
      },
    );
  };

  // Reloads run one at a time; a SIGHUP during a reload asks for one more afterwards.
  let reloading: Promise<void> | undefined;
  let again = false;
  const reloadOnce = async (): Promise<void> => {
    do {
      again = false;
      try {
        await target.reload();
      } catch (err) {
        log.error({ err: (err as Error).message }, 'reload refused; the running configuration stays');
      }
    } while (again && !stopping);
  };
  const onReload = () => {
    if (stopping) return;
    log.info({ signal: 'SIGHUP' }, 'reloading the configuration');
    if (reloading) {
      again = true;
      return;
    }
    reloading = reloadOnce().finally(() => {
      reloading = undefined;
    });
  };

  for (const s of STOP_SIGNALS) source.on(s, onStop);
  source.on('SIGHUP', onReload);
  return () => {
    for (const s of STOP_SIGNALS) source.removeListener(s, onStop);
    source.removeListener('SIGHUP', onReload);
  };
}
