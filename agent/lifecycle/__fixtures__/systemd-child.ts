/**
 * A process run the way systemd runs the agent, for the lifecycle tests: `node -r test/helpers/ts-register.js`
 * with NOTIFY_SOCKET and WATCHDOG_USEC in its environment. It starts a SystemdIntegration, sends READY=1 and
 * obeys one command per stdin line:
 *   block <ms>     busy-loops the event loop for <ms>
 *   alive <0|1>    what isAlive() answers from now on
 *   status <text>  what describe() answers from now on, then updateStatus()
 *   reload         RELOADING=1, then READY=1
 *   stop           stop() and exit 0 (also on stdin's end)
 * Around each command it sends `X_TEST=<event>` through the addon to the same socket, so the test sees its
 * commands and the integration's datagrams in one order and on one clock. Logs are pino JSON on stderr.
 */
import pino from 'pino';
import { createInterface } from 'node:readline';
import { loadNotifyBinding } from '../binding';
import { SystemdIntegration } from '../systemd';

const logger = pino({ level: 'debug', base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
const socket = process.env.NOTIFY_SOCKET;
const binding = loadNotifyBinding();
const mark = (event: string) => {
  try {
    if (binding.ok && socket) binding.binding.notify(`X_TEST=${event}`, socket);
  } catch {
    // a test that removed the socket checks the integration's own handling of that, not these markers
  }
};

let alive = true;
let status = 'connected to mqtt://127.0.0.1:1883, outbox 0 pending, last error: none';
const systemd = new SystemdIntegration({ env: process.env, logger, binding, isAlive: () => alive, describe: () => status });
systemd.start();
systemd.ready();

const finish = () => {
  systemd.stop();
  mark('exiting');
  process.exit(0);
};

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const [cmd, ...rest] = line.trim().split(' ');
  const arg = rest.join(' ');
  switch (cmd) {
    case 'block': {
      const ms = Number(arg);
      mark('block-start');
      const until = Date.now() + ms;
      while (Date.now() < until) {
        // busy: nothing else runs on this thread until the deadline
      }
      mark('block-end');
      break;
    }
    case 'alive':
      alive = arg === '1';
      mark(`alive-${arg}`);
      break;
    case 'status':
      status = arg;
      systemd.updateStatus();
      mark('status');
      break;
    case 'reload':
      systemd.reloading();
      systemd.ready();
      mark('reloaded');
      break;
    case 'stop':
      finish();
      break;
    default:
      logger.error({ line }, 'unknown fixture command');
  }
});
lines.on('close', finish);
