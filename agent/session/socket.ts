/** How the session sets up each connection's socket for many small packets. */
import type { Socket } from 'node:net';

/**
 * Turns Nagle's algorithm off (replies are small; each could otherwise wait for the previous ACK) and, from the
 * moment a chunk arrives until the end of that turn of the event loop, holds the socket's writes, so the PUBACKs,
 * replies and posts that the chunk's messages cause leave in one write instead of one each.
 */
export function tuneSocket(socket: Partial<Socket>): void {
  socket.setNoDelay?.(true);
  if (!socket.cork || !socket.uncork) return;
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork?.();
  };
  socket.prependListener?.('data', () => {
    if (corked) return;
    corked = true;
    socket.cork?.();
    setImmediate(uncork);
  });
}
