/**
 * The agent's pino logger. Secrets are kept out of log objects in the first place (the secret is a `Secret`
 * value that prints as `[redacted]`); redaction is the second fence, for any object that carries one by mistake.
 *
 * pino gives every child logger its own level, fixed when the child is made, so a level change on SIGHUP must
 * reach the children too: the logger remembers its descendants (weakly) and `setLogLevel` walks them.
 */
import pino, { DestinationStream, Logger } from 'pino';
import type { LogLevel } from './schema';

/** Keys censored wherever they appear up to three levels deep. */
const SENSITIVE_KEYS = ['password', 'secret', 'deviceSecret', 'sign', 'signature', 'accessKeySecret', 'productSecret'];

export const REDACT_PATHS = SENSITIVE_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

const descendantsKey = Symbol('alink-agent.descendants');

interface Tracked {
  [descendantsKey]?: Set<WeakRef<Logger>>;
}

/** Past this many remembered children, dead references are swept before adding more. */
const SWEEP_AT = 256;

/** A logger with the agent's redaction. `destination` defaults to stdout. */
export function createAgentLogger(opts: { level: LogLevel | pino.Level; name?: string }, destination?: DestinationStream): Logger {
  const descendants = new Set<WeakRef<Logger>>();
  let sweepAt = SWEEP_AT;
  const options: pino.LoggerOptions = {
    level: opts.level,
    name: opts.name ?? 'alink-agent',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
    // Inherited by grandchildren through the prototype chain, so every descendant registers here.
    onChild: (child) => {
      if (descendants.size >= sweepAt) {
        for (const ref of descendants) if (ref.deref() === undefined) descendants.delete(ref);
        sweepAt = Math.max(SWEEP_AT, descendants.size * 2);
      }
      descendants.add(new WeakRef(child));
    },
  };
  const logger = destination ? pino(options, destination) : pino(options);
  (logger as Tracked)[descendantsKey] = descendants;
  return logger;
}

/**
 * Sets the level of `logger` and of every child made from it (when it came from `createAgentLogger`; a foreign
 * pino logger only changes itself).
 */
export function setLogLevel(logger: Logger, level: LogLevel): void {
  logger.level = level;
  const descendants = (logger as Tracked)[descendantsKey];
  if (!descendants) return;
  for (const ref of descendants) {
    const child = ref.deref();
    if (child === undefined) descendants.delete(ref);
    else child.level = level;
  }
}
