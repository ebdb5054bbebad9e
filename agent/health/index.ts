export { AgentMetrics, CONNECTION_STATES, type AgentMetricsOptions, type MessageKind } from './metrics';
export { HealthServer, type HealthServerOptions, type HealthServerAddress } from './server';
export { ConnectionHealth, type ConnectionHealthOptions, type ConnectionChange, type HealthReport } from './connection';
export { HealthError, HealthErrors, type HealthErrorCode } from './errors';
