/**
 * The doctor's findings and how each becomes one output line: `ok   config: agent.config.json valid`,
 * `FAIL tsl: properties[3].dataType.specs.max: expected ...`. The status column is padded so that the check
 * names line up when an operator reads the report over ssh.
 */

/** `skip`: not applicable, or not tried because an earlier check failed. Only `FAIL` changes the exit status. */
export type Status = 'ok' | 'warn' | 'FAIL' | 'skip';

/** The checks, in the order they run. */
export type CheckName = 'config' | 'tsl' | 'sub-devices' | 'data dir' | 'ca file' | 'broker' | 'credentials' | 'clock' | 'ota';

/** One line of the report. */
export interface Finding {
  status: Status;
  check: CheckName;
  text: string;
}

/** `ok   config: text`: the status padded to four characters, then the check name. */
export function formatFinding(f: Finding): string {
  // A message from elsewhere (an OS error, a TSL problem) must not break the one-line-per-finding promise.
  return `${f.status.padEnd(4)} ${f.check}: ${f.text.replace(/\s*\n\s*/g, '; ')}`;
}

export const ok = (check: CheckName, text: string): Finding => ({ status: 'ok', check, text });
export const warn = (check: CheckName, text: string): Finding => ({ status: 'warn', check, text });
export const fail = (check: CheckName, text: string): Finding => ({ status: 'FAIL', check, text });
export const skip = (check: CheckName, text: string): Finding => ({ status: 'skip', check, text });

/** True when any finding failed. */
export function anyFailed(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.status === 'FAIL');
}

/** `code` of a Node error (`ENOENT`, `EACCES`...), or a fallback when there is none. */
export function errnoCode(err: unknown, fallback = 'error'): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && code !== '' ? code : fallback;
}
