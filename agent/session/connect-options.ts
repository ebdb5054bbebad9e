import type { IClientOptions } from 'mqtt';
import type { AgentConfig } from '../config/load';

/**
 * The MQTT options that follow from the `broker` section alone: transport, protocol, session and TLS. The session
 * and `alink-agent doctor` both build their CONNECT from it, so the doctor checks the connection the agent makes.
 */
export function brokerConnectOptions(b: AgentConfig['broker'], ca: Buffer | undefined): IClientOptions {
  return {
    protocol: b.scheme,
    host: b.host,
    port: b.port,
    protocolVersion: b.protocolVersion,
    keepalive: b.keepalive,
    clean: b.cleanSession,
    ...(ca ? { ca, rejectUnauthorized: true } : {}),
    ...(b.protocolVersion === 5 && b.sessionExpirySeconds !== undefined ? { properties: { sessionExpiryInterval: b.sessionExpirySeconds } } : {}),
  };
}
