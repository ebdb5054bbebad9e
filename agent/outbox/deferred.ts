/** A promise with its settle functions, for results that arrive through callbacks (commit, PUBACK). */
export class Deferred<T> {
  readonly promise: Promise<T>;
  resolve!: (value: T) => void;
  reject!: (reason: unknown) => void;

  /** `handled`: a rejection nobody awaits must not crash the process (receipt.acked is often ignored). */
  constructor(handled = false) {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    if (handled) this.promise.catch(() => undefined);
  }
}
