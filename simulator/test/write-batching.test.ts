import { once } from 'node:events';
import { AddressInfo, createServer, connect, Socket } from 'node:net';
import { batchWrites } from '../mqtt/write-batching';

/** A loopback pair: the client end (tuned by the test) and what the server end has read so far. */
async function pair(): Promise<{ client: Socket; peer: Socket; received: () => string; close: () => Promise<void> }> {
  let got = '';
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  const [[peer]] = await Promise.all([accepted, once(client, 'connect')]);
  peer.on('data', (d: Buffer) => (got += d.toString()));
  return {
    client,
    peer,
    received: () => got,
    close: async () => {
      client.destroy();
      peer.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

const turnEnd = () => new Promise((r) => setImmediate(r));
const until = async (ok: () => boolean) => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 5));
};

describe('batchWrites', () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((p) => p.close()));
  });

  it('holds what several callbacks of one turn write until the turn ends, then sends it all', async () => {
    const p = await pair();
    open.push(p);
    const hold = batchWrites(p.client);
    hold();
    p.client.write('a');
    process.nextTick(() => {
      hold();
      p.client.write('b');
    });
    await Promise.resolve().then(() => {
      hold();
      p.client.write('c');
    });
    await new Promise((r) => process.nextTick(r));
    expect(p.client.writableCorked).toBe(1);
    expect(p.client.writableLength).toBe(3);
    await turnEnd();
    expect(p.client.writableCorked).toBe(0);
    // The callbacks ran in the event loop's order (microtask, then tick); what matters is that all three left.
    await until(() => p.received().length === 3);
    expect([...p.received()].sort().join('')).toBe('abc');
  });

  it('holds the answers to what one read brought; a write with no hold goes out at once', async () => {
    const p = await pair();
    open.push(p);
    batchWrites(p.client);
    p.client.write('x');
    expect(p.client.writableLength).toBe(0);
    const seen = new Promise<{ corked: number; buffered: number }>((resolve) =>
      p.client.once('data', () => {
        p.client.write('y');
        resolve({ corked: p.client.writableCorked, buffered: p.client.writableLength });
      }),
    );
    p.peer.write('ping');
    expect(await seen).toEqual({ corked: 1, buffered: 1 });
    await until(() => p.received() === 'xy');
    expect(p.received()).toBe('xy');
  });
});
