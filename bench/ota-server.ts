/**
 * The simulator of bench:ota (bench/ota.ts) in a process of its own, so that the agent's downloader and `curl`
 * face the same server the same way: neither shares its CPU or event loop with the server, and the bench
 * process's RSS is the downloader's, not the firmware bodies the simulator holds in memory.
 *
 * IPC: it sends `{ ready: httpUrl }` once started; `{ put: size }` stages a body of that size (see
 * {@link patternChunk}) and answers `{ firmwareUrl }` for the SDK's CreateOTAFirmware; `{ url: firmwareId }`
 * answers `{ url }`, a signed download URL; `'stop'` stops it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { CloudSimulator } from '../simulator/cloud-simulator';

export const PK = 'a1OtaBench1';

/**
 * Bytes [at, at + n) of the benchmark's firmware body: a pattern that does not compress and that the bench
 * process can hash chunk by chunk without holding the whole body (`at` a multiple of 4).
 */
export function patternChunk(at: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i += 4) b.writeUInt32LE(((at + i) * 2654435761) >>> 0, i);
  return b;
}

type Request = { put: number } | { url: string } | 'stop';

async function serve(): Promise<void> {
  const tsl = [join(__dirname, '..', '..', 'simulator', 'tsl', 'example-gateway.json'), join(__dirname, '..', 'simulator', 'tsl', 'example-gateway.json')].find((p) => existsSync(p)) as string;
  const sim = new CloudSimulator(
    { mqtt: { mode: 'embedded' }, accessKeys: [{ id: 'testAK', secret: 'testSecret' }], products: [{ productKey: PK, tsl }], devices: [], cloudValidation: false, log: { level: 'silent' } },
    { logger: pino({ level: 'silent' }) },
  );
  const urls = await sim.start();
  process.on('message', (m: Request) => {
    if (m === 'stop') {
      void sim.stop().then(() => process.exit(0));
    } else if ('put' in m) {
      process.send!({ firmwareUrl: sim.ota.uploads.put(patternChunk(0, m.put)) });
    } else {
      process.send!({ url: sim.ota.downloadUrl(m.url) });
    }
  });
  process.send!({ ready: urls.httpUrl });
}

if (require.main === module) {
  serve().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
