/** The cloud simulator's public API. */
export { CloudSimulator } from './cloud-simulator';
export type { CloudSimulatorOptions, SimulatorUrls } from './cloud-simulator';
export { loadConfigFile, validateConfig, ConfigError } from './config/load';
export type { SimulatorConfig, SimulatorConfigInput } from './config/schema';
export type { SimulatorEvents } from './events';
export type { DeviceReply, DeviceStatus, EventRecord, PropertyValue } from './state/device-state';
export type { DeviceRecord } from './registry';
export { MemoryNonceStore } from './http/nonce-store';
export type { NonceStore } from './http/nonce-store';
export { ApiError, ApiErrors, API_ERROR_CODES } from './errors';
export { createLogger } from './logger';
export { preferManagedBroker } from './broker-choice';
export type { BrokerChoice } from './broker-choice';
