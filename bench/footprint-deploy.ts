/**
 * The deployment half of `npm run bench:footprint` (root, Debian 12; about 10 minutes cold on 2 cores; BENCH_DEPLOY=0
 * leaves it out):
 *   package    the Debian package built from this checkout: its size, its Installed-Size and where it goes
 *   image      the simulator container image: total, base and app layers (image minus base), and each app layer
 *   systemd    the agent's RSS as the packaged service under a real systemd (systemd-nspawn, Debian 12) against a
 *              plain `node` run of the same program, config, user and data dir in the same machine, both connected
 *              to the simulator on the machine's loopback, read after BENCH_DEPLOY_SETTLE_MS (default 5000);
 *              BENCH_REPEAT rounds, alternating which goes first. Goal: equal within noise (the sandbox and the notify addon cost
 *              nothing measurable).
 * Uses the deployment tests' machinery (test/deploy/), which installs what it needs and tears down what it makes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BASE_IMAGE, DockerEngine, bytesOf } from '../test/deploy/docker';
import { Machine, UNIT, buildDeb, configureAgent, ensureNspawnTools, gatewayRootfsTar, hostNodejsDeb, installPackages, startPlainAgent, startSimulator, untilConnected, vmRssKb } from '../test/deploy/gateway';
import { REPO, ensurePackages, run, secs, sh, sleep, stopChild, type Child } from '../test/deploy/support';

const SETTLE_MS = Number(process.env.BENCH_DEPLOY_SETTLE_MS ?? 5000);
const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export async function packageAndSystemd(repeat: number): Promise<void> {
  ensureNspawnTools();
  const work = mkdtempSync('/var/tmp/alink-bench-deb-');
  let machine: Machine | undefined;
  let sim: Child | undefined;
  try {
    const deb = buildDeb(work);
    const installedKb = Number(run('dpkg-deb', ['-f', deb.file, 'Installed-Size']).stdout.trim());
    const tree = join(work, 'tree');
    run('dpkg-deb', ['-x', deb.file, tree]);
    const part = (p: string) => mb(bytesOf(join(tree, p)));
    console.log(`\nDebian package ${deb.file.split('/').pop()} (built in ${secs(deb.ms)})`);
    console.log(`  package file                           ${mb(Number(sh(`stat -c %s ${deb.file}`).stdout))} MB`);
    console.log(`  installed (Installed-Size, disk blocks) ${mb(installedKb * 1024)} MB`);
    console.log(`    node_modules (production)            ${part('opt/alink-agent/node_modules')} MB`);
    console.log(`    dist                                 ${part('opt/alink-agent/dist')} MB`);
    console.log(`    native (notify addon)                ${part('opt/alink-agent/native')} MB`);

    machine = await Machine.boot(gatewayRootfsTar());
    const m = machine;
    installPackages(m, [hostNodejsDeb(), deb.file]);
    configureAgent(m);
    sim = await startSimulator(m);
    const underSystemd: number[] = [];
    const plain: number[] = [];
    const viaSystemd = async () => {
      m.exec(`systemctl start ${UNIT}`);
      const pid = await untilConnected(m);
      await sleep(SETTLE_MS);
      underSystemd.push(vmRssKb(m, pid));
      m.exec(`systemctl stop ${UNIT}`);
    };
    const byHand = async () => {
      const p = await startPlainAgent(m);
      await sleep(SETTLE_MS);
      plain.push(vmRssKb(m, p.pid));
      p.stop();
    };
    for (let i = 0; i < repeat; i++) {
      // alternating which goes first, so that neither always meets a warmer page cache or a fuller database
      if (i % 2 === 0) {
        await viaSystemd();
        await byHand();
      } else {
        await byHand();
        await viaSystemd();
      }
      console.log(`  round ${i + 1}: RSS under systemd ${(underSystemd[i] as number / 1024).toFixed(1)} MB, plain node ${(plain[i] as number / 1024).toFixed(1)} MB`);
    }
    const s = median(underSystemd) / 1024;
    const p = median(plain) / 1024;
    const diff = s - p;
    console.log(`\nRSS of the connected agent in a Debian 12 machine (systemd 252), medians of ${repeat} rounds, ${SETTLE_MS} ms after connecting`);
    console.log(`  under systemd (alink-agent.service)    ${s.toFixed(1)} MB`);
    console.log(`  plain node, same config and user       ${p.toFixed(1)} MB`);
    console.log(`  systemd / plain                        ${(s / p).toFixed(3)}   (${diff >= 0 ? '+' : ''}${diff.toFixed(1)} MB; goal: equal within noise, 2 MB: ${Math.abs(diff) <= 2 ? 'met' : 'MISSED'})`);
  } finally {
    await stopChild(sim);
    if (machine) await machine.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

export async function image(): Promise<void> {
  ensurePackages(['docker.io', 'debootstrap']);
  const engine = await DockerEngine.start();
  const tag = `alink-sim-bench:${process.pid}`;
  try {
    const base = engine.ensureBaseImage();
    const b = engine.docker(['build', '--network', 'host', '-f', 'deploy/Dockerfile', '-t', tag, '.'], { cwd: REPO, timeoutMs: 20 * 60_000 });
    const size = Number(engine.docker(['image', 'inspect', '-f', '{{.Size}}', tag]).stdout.trim());
    const baseSize = Number(engine.docker(['image', 'inspect', '-f', '{{.Size}}', BASE_IMAGE]).stdout.trim());
    console.log(`\ncontainer image (deploy/Dockerfile, base ${BASE_IMAGE} ${base}; built in ${secs(b.ms)} from an empty layer cache)`);
    console.log(`  image                                  ${mb(size)} MB`);
    console.log(`  base                                   ${mb(baseSize)} MB`);
    console.log(`  app layers (image - base)              ${mb(size - baseSize)} MB`);
    const layers = engine.docker(['history', '--no-trunc', '--format', '{{.Size}}\t{{.CreatedBy}}', tag]).stdout.trim().split('\n');
    // the runtime stage's own layers come first in the history, down to the base image's
    const baseLayers = engine.docker(['history', '-q', BASE_IMAGE]).stdout.trim().split('\n').length;
    for (const l of layers.slice(0, layers.length - baseLayers)) {
      const [sz, by] = l.split('\t');
      if (sz !== '0B') console.log(`    ${(sz ?? '').padEnd(9)} ${(by ?? '').replace(/^\/bin\/sh -c (#\(nop\) )?/, '').slice(0, 90)}`);
    }
  } finally {
    engine.docker(['rmi', '-f', tag], { allowFail: true });
    await engine.stop();
  }
}

/** Prints the deployment footprint; throws (the bench fails) when a step cannot run. */
export async function deployFootprint(repeat: number): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the deployment footprint needs root (docker, systemd-nspawn); BENCH_DEPLOY=0 leaves it out');
  await packageAndSystemd(repeat);
  await image();
}
