/**
 * The simulator's pino logger. Log calls never pass secrets; the redaction list is a second line of defence
 * should a future call site hand over an object that carries one.
 */
import pino, { DestinationStream, Logger } from 'pino';

export const REDACT_PATHS = [
  'password',
  'secret',
  'deviceSecret',
  'accessKeySecret',
  'signature',
  'Signature',
  'authorization',
  '*.password',
  '*.secret',
  '*.deviceSecret',
  '*.accessKeySecret',
  '*.signature',
  '*.Signature',
  '*.authorization',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const opts = { name: 'alink-sim', level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  return destination ? pino(opts, destination) : pino(opts);
}
