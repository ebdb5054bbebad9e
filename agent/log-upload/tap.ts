/**
 * Sees every line the agent's pino logger writes, after serialization — so the redaction of agent/config/logger.ts
 * has already censored secrets — by wrapping the `write` of the logger's destination stream once. Several agents
 * on one stream each add their own tap; a tap that throws is removed, never breaks logging.
 */
import pino, { type Logger } from 'pino';

type Tap = (line: string) => void;
type Writable = { write(chunk: unknown, ...rest: unknown[]): unknown };

const taps = new WeakMap<object, Set<Tap>>();

/** Adds `tap` to the destination of `logger`; returns the function that removes it (undefined: no stream to tap). */
export function tapLogger(logger: Logger, tap: Tap): (() => void) | undefined {
  const stream = (logger as unknown as Record<symbol, Writable | undefined>)[pino.symbols.streamSym];
  if (!stream || typeof stream.write !== 'function') return undefined;
  let set = taps.get(stream);
  if (!set) {
    const mine = new Set<Tap>();
    set = mine;
    taps.set(stream, mine);
    const write = stream.write.bind(stream);
    stream.write = (chunk: unknown, ...rest: unknown[]) => {
      if (mine.size > 0) {
        const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : '';
        for (const t of mine) {
          try {
            t(text);
          } catch {
            mine.delete(t);
          }
        }
      }
      return write(chunk, ...rest);
    };
  }
  set.add(tap);
  const own = set;
  return () => own.delete(tap);
}
