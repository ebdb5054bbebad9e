/**
 * The process's start-up in V8's memory-saving mode (docs/performance.md, "RSS of a connected agent"). V8 grows
 * its heap to the start-up burst (loading modules, compiling the Thing Model and the schemas) and keeps the pages
 * it grew, so a connected agent held about 17 MB of heap it no longer used. With `--optimize-for-size` during the
 * start the heap grows less; it is switched off once the agent runs, because under load it costs about half again
 * as much CPU per property set (bench:agent). V8 flags belong to the process: only the CLI, which owns it, calls this.
 */
import { setFlagsFromString } from 'node:v8';

/**
 * Turns the memory-saving mode on; the returned function turns it off again (call it once the agent runs; calls
 * after the first do nothing). `setFlags` is V8's, replaced in tests.
 */
export function leanStart(setFlags: (flags: string) => void = setFlagsFromString): () => void {
  setFlags('--optimize-for-size');
  let on = true;
  return () => {
    if (on) setFlags('--no-optimize-for-size');
    on = false;
  };
}
