/**
 * `alink-agent doctor --config FILE`: checks, in order, everything the agent needs before it can run, and prints
 * one line per finding: the configuration and device secret, the Thing Model, the data directory, the OTA staging directory's free space, the CA file,
 * that the broker answers, and that it accepts the device's credentials. A failure does not stop the checks that
 * do not depend on it; those that do are reported as `skip` with the reason.
 */
import { parseDoctorArgs, DOCTOR_USAGE } from './args';
import { checkBroker } from './check-broker';
import { checkCaFile } from './check-ca';
import { checkConfig } from './check-config';
import { checkCredentials } from './check-credentials';
import { checkDataDir } from './check-data-dir';
import { checkThingModel } from './check-tsl';
import { checkSubDevices } from './check-sub-devices';
import { checkOtaStaging } from './check-ota';
import { anyFailed, formatFinding, skip, type CheckName, type Finding } from './report';

export { DOCTOR_USAGE, parseDoctorArgs } from './args';
export { formatFinding, type CheckName, type Finding, type Status } from './report';

/** Where the doctor writes; each call is one chunk of text with its newline. */
export interface DoctorIo {
  stdout(s: string): void;
  stderr(s: string): void;
}

export interface DoctorOptions {
  /** Where `device.secretEnv` is looked up; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Bound of the broker and credentials checks; default the configuration's `broker.connectTimeoutMs`. */
  connectTimeoutMs?: number;
}

const LATER_CHECKS: CheckName[] = ['tsl', 'sub-devices', 'data dir', 'ca file', 'broker', 'credentials'];

/**
 * Runs the doctor. `argv` are the arguments after `doctor`, e.g. `['--config', 'agent.config.json']`.
 * Resolves with the exit status: 0 when every check passed (warnings allowed), 1 when any failed, 2 on a usage
 * error (missing `--config`, unknown argument). The device secret is never written.
 */
export async function runDoctor(argv: string[], io: DoctorIo, opts: DoctorOptions = {}): Promise<number> {
  const args = parseDoctorArgs(argv);
  if (args.kind === 'help') {
    io.stdout(DOCTOR_USAGE);
    return 0;
  }
  if (args.kind === 'error') {
    io.stderr(`alink-agent doctor: ${args.message}\n${DOCTOR_USAGE}`);
    return 2;
  }
  const all: Finding[] = [];
  const report = (findings: Finding[]) => {
    for (const f of findings) io.stdout(`${formatFinding(f)}\n`);
    all.push(...findings);
  };

  const loaded = checkConfig(args.config, opts.env ?? process.env);
  report(loaded.findings);
  const config = loaded.config;
  if (!config) {
    report(LATER_CHECKS.map((c) => skip(c, 'needs a valid configuration')));
    return 1;
  }
  report(checkThingModel(config));
  report(checkSubDevices(config));
  report(checkDataDir(config.dataDir));
  report(checkOtaStaging(config.dataDir, config.ota, config.gateway.otaModules));
  const ca = checkCaFile(config.broker);
  report(ca.findings);

  const timeoutMs = opts.connectTimeoutMs ?? config.broker.connectTimeoutMs;
  const broker = await checkBroker(config.broker, { timeoutMs, tls: ca.usable, ...(ca.ca ? { ca: ca.ca } : {}) });
  report(broker.findings);
  if (!loaded.secretResolved) report([skip('credentials', 'the device secret did not resolve (see config)')]);
  else if (!ca.usable) report([skip('credentials', 'the CA file is unusable (see ca file)')]);
  else if (!broker.reachable) report([skip('credentials', 'the broker is not reachable (see broker)')]);
  else report(await checkCredentials(config, { timeoutMs, ...(ca.ca ? { ca: ca.ca } : {}) }));
  return anyFailed(all) ? 1 : 0;
}
