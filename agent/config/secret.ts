import { inspect } from 'node:util';

const REDACTED = '[redacted]';

/**
 * The device secret, wrapped so that it cannot reach a log line or an error by accident: JSON, string
 * conversion and `util.inspect` all show `[redacted]`; only `reveal()` gives the value, and only the signer calls it.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
