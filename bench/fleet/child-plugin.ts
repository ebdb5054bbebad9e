/**
 * The plugin of the fleet's child-process gateway (bench/fleet/child.ts), loaded by the agent CLI from its config
 * file: the driver of every sub-device (a set is applied by writing it, keyed by the set's id, to `ctx.state`, so
 * the 200 means it is on disk), and the post load through `ctx.gateway.upstream(device)`. What it accepted, it
 * appends to a ledger file (one key per line, written once `stored` resolved durable), so the parent can check
 * after a kill -9 that every one of them reached the platform. At start it writes the set ids it holds to a dump
 * file, so the parent can check that every set the killed process answered 200 was applied durably.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { definePlugin, type CallContext, type DeviceIdentity } from '../../handlers/api';
import { Poster, type PostTarget } from './poster';

export interface ChildPluginOptions {
  products: string[];
  setProperties: string[];
  targets: PostTarget[];
  postsPerSecond: number;
  /** Accepted post keys, appended. */
  ledger: string;
  /** The load stops when this file exists. */
  stopFile: string;
  /** Where `start` writes the keys of the sets it has applied (JSON array). */
  dumpFile: string;
}

/** Set keys in `ctx.state`: `set|{deviceName}|{id}`. */
export const setKey = (deviceName: string, id: string) => `set|${deviceName}|${id}`;

/** The last sequence number per device in a ledger file (a restarted child goes on from there). */
export function lastSeqs(ledger: string): Map<string, number> {
  const out = new Map<string, number>();
  if (!existsSync(ledger)) return out;
  for (const line of readFileSync(ledger, 'utf8').split('\n')) {
    const m = /^(.+)#(\d+)$/.exec(line);
    if (m) out.set(m[1] as string, Math.max(out.get(m[1] as string) ?? 0, Number(m[2])));
  }
  return out;
}

export default definePlugin<ChildPluginOptions>({
  name: 'fleet-child',
  setup: (ctx) => {
    const o = ctx.options;
    let poster: Poster | undefined;
    let watch: NodeJS.Timeout | undefined;
    return {
      subDevices: {
        products: o.products,
        properties: {
          ids: [...new Set(o.setProperties)],
          apply: async (values: Record<string, unknown>, call: CallContext) => {
            await ctx.state.put({ [setKey(call.device?.deviceName ?? '', call.id)]: values });
          },
        },
      },
      start: () => {
        writeFileSync(o.dumpFile, JSON.stringify(ctx.state.entries().map(([k]) => k)));
        poster = new Poster(o.targets, o.postsPerSecond, (d: DeviceIdentity) => ctx.gateway.upstream(d), (key) => appendFileSync(o.ledger, `${key}\n`), lastSeqs(o.ledger));
        poster.start();
        watch = setInterval(() => {
          if (existsSync(o.stopFile)) poster?.stop();
        }, 50);
      },
      stop: () => {
        poster?.stop();
        clearInterval(watch);
      },
    };
  },
});
