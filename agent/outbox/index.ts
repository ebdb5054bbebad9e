/** The durable QoS 1 outbox (see README.md in this folder). */
export { Outbox, type OutboxStats, type OutboxMqttOptions } from './outbox';
export type { OutboxOptions, OverflowPolicy, DropInfo, AgedPolicy } from './options';
export { InflightStore, type ReplayGate } from './inflight-store';
export * from './errors';
