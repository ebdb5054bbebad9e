/**
 * The platform's MQTT client socket (managed and external modes), set up for many small packets. Every RRpc, Pub
 * and platform answer is one small PUBLISH, and each API call arrives in its own HTTP callback, so without this
 * each packet leaves in its own `writev` and wakes the broker once (mqtt-packet corks a packet only until the next
 * tick). Measured in docs/simulator-brokers.md, "What it costs".
 */
import type { Socket } from 'node:net';

type Tunable = Partial<Pick<Socket, 'setNoDelay' | 'cork' | 'uncork' | 'prependListener'>>;

/**
 * Turns Nagle's algorithm off and returns `hold()`: called before a write, it holds the socket's writes until the
 * end of this turn of the event loop, so what every callback of the turn sends (requests of several API calls,
 * answers to what one socket read brought, which hold by themselves) leaves in one write.
 */
export function batchWrites(socket: Tunable): () => void {
  socket.setNoDelay?.(true);
  if (!socket.cork || !socket.uncork) return () => undefined;
  let held = false;
  const release = () => {
    held = false;
    socket.uncork?.();
  };
  const hold = () => {
    if (held) return;
    held = true;
    socket.cork?.();
    setImmediate(release);
  };
  socket.prependListener?.('data', hold);
  return hold;
}
