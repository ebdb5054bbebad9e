/**
 * The fleet's driver plugin for in-process gateways (bench/fleet/agents.ts) and, as a module the agent CLI loads
 * (`handlers: [{ module, options: { products, setProperties } }]`), for benchmark gateways in child processes.
 */
import { definePlugin, type CallContext } from '../../handlers/api';

/**
 * The driver: owns every sub-device of the fleet's products, applies a set by writing it to `ctx.state` (so that
 * the 200 the agent sends after the handler means the value is on disk, as a real driver that writes a register).
 */
export function fleetDriver(products: readonly string[], setProperties: readonly string[], onApplied: () => void = () => undefined) {
  return definePlugin({
    name: 'fleet-driver',
    setup: (ctx) => ({
      subDevices: {
        products,
        properties: {
          ids: [...new Set(setProperties)],
          apply: async (values: Record<string, unknown>, call: CallContext) => {
            await ctx.state.put({ [`${call.device?.deviceName}`]: values });
            onApplied();
          },
        },
      },
    }),
  });
}

/** The driver as a CLI plugin module: the products and set properties come from its options. */
export default definePlugin<{ products: string[]; setProperties: string[] }>({
  name: 'fleet-driver',
  setup: (ctx) => fleetDriver(ctx.options.products, ctx.options.setProperties).setup(ctx as never),
});
