/**
 * A TCP forwarder on 127.0.0.1 for tests: the publisher connects through it, so cutting it simulates a network
 * outage for that client alone while the broker and the subscriber stay up.
 */
import { createServer, connect, type Socket } from 'node:net';

/** A running forwarder. */
export interface TcpProxy {
  port: number;
  url: string;
  /** Connections accepted and forwarded so far. */
  readonly forwarded: number;
  /** Drops every open connection and refuses new ones until {@link TcpProxy.restore}. */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

/** Starts a forwarder to `targetPort` on 127.0.0.1, listening on a port the kernel picks. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let down = false;
  let forwarded = 0;
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const server = createServer((downstream) => {
    track(downstream);
    if (down) {
      downstream.destroy();
      return;
    }
    forwarded++;
    downstream.setNoDelay(true);
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    track(upstream);
    upstream.setNoDelay(true);
    downstream.pipe(upstream);
    upstream.pipe(downstream);
    upstream.on('close', () => downstream.destroy());
    downstream.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('tcp proxy: no address');
  const dropAll = () => {
    for (const s of sockets) s.destroy();
  };
  return {
    port: addr.port,
    url: `mqtt://127.0.0.1:${addr.port}`,
    get forwarded() {
      return forwarded;
    },
    cut() {
      down = true;
      dropAll();
    },
    restore() {
      down = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        down = true;
        dropAll();
        server.close(() => resolve());
      }),
  };
}
