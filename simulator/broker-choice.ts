/**
 * Which broker a simulator for people (the `npm start` demo, `alink-sim serve`) runs on: the managed mosquitto
 * (MQTT 5, the platform's rules) when this machine can run it, else the embedded aedes (MQTT 3.1.1). Tests pick a
 * mode explicitly; this is for tools that should use the best one available and say which.
 */
import type { SimulatorConfig } from './config/schema';
import { managedSupport, type ManagedSupport } from './mqtt/mosquitto-support';

export interface BrokerChoice {
  config: SimulatorConfig;
  /** One line for people: which broker, and why not the managed one when it is not. */
  description: string;
}

/** An `embedded` config becomes `managed` where mosquitto, its plugin headers and a C compiler are installed. */
export function preferManagedBroker(config: SimulatorConfig, support: ManagedSupport = managedSupport()): BrokerChoice {
  if (config.mqtt.mode === 'external') return { config, description: `external broker at ${config.mqtt.url} (no device authentication or ACL)` };
  if (config.mqtt.mode === 'managed') return { config, description: 'managed mosquitto (MQTT 5, Alink authentication and ACL plugin)' };
  if (!support.ok) return { config, description: `embedded aedes (MQTT 3.1.1, Alink authentication); managed mosquitto unavailable: ${support.why}` };
  return {
    config: { ...config, mqtt: { ...config.mqtt, mode: 'managed' } },
    description: `managed mosquitto ${support.mosquitto} (MQTT 5, Alink authentication and ACL plugin)`,
  };
}
