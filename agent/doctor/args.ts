/**
 * The doctor's command line: `--config FILE` (also `-c FILE`, `--config=FILE`) and `--help`. Anything else is a
 * usage error (exit 2), so a typo never silently checks the wrong thing.
 */

export const DOCTOR_USAGE = `Usage: alink-agent doctor --config FILE
  Checks, one line each: the configuration and device secret, the Thing Model, the data directory, the CA file
  (mqtts://), that the broker answers, and that it accepts the device's credentials (one CONNECT, then DISCONNECT:
  an agent already running with the same identity is disconnected once and reconnects).
  Exit status: 0 every check passed (warnings allowed), 1 a check failed, 2 usage error.
`;

export type DoctorArgs = { kind: 'run'; config: string } | { kind: 'help' } | { kind: 'error'; message: string };

/** Parses the arguments after `doctor`. */
export function parseDoctorArgs(argv: readonly string[]): DoctorArgs {
  let config: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    let value: string | undefined;
    if (a === '--help' || a === '-h') return { kind: 'help' };
    if (a === '--config' || a === '-c') {
      value = argv[i + 1];
      if (value === undefined || value.startsWith('-')) return { kind: 'error', message: `${a} needs a file path` };
      i++;
    } else if (a.startsWith('--config=')) {
      value = a.slice('--config='.length);
    } else {
      return { kind: 'error', message: `unknown argument "${a}"` };
    }
    if (value === '') return { kind: 'error', message: '--config needs a file path, received ""' };
    if (config !== undefined) return { kind: 'error', message: `--config given twice ("${config}", "${value}")` };
    config = value;
  }
  if (config === undefined) return { kind: 'error', message: 'doctor needs --config FILE' };
  return { kind: 'run', config };
}
