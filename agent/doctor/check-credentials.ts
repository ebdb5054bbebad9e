/**
 * Check 6: one real Alink CONNECT, built exactly as the session builds it (CredentialSource: fresh timestamp,
 * configured sign method and secure mode, protocol version, clean session and session expiry), then DISCONNECT.
 *
 * Nothing is published or subscribed but one NTP exchange (check-clock.ts). Clean session and session expiry mirror the configuration because a
 * CONNECT that differed would end a persistent session the agent relies on; and should the broker deliver
 * messages queued for that session, they are left unacknowledged so that the agent still receives them.
 */
import { connect as mqttConnect, type IClientOptions, type IConnackPacket } from 'mqtt';
import type { AgentConfig } from '../config/load';
import { classifyError } from '../session/causes';
import { brokerConnectOptions } from '../session/connect-options';
import { CredentialSource } from '../session/credentials';
import { errnoCode, fail, ok, type Finding } from './report';
import { hostPort } from './check-broker';
import { checkClock } from './check-clock';

export interface CredentialsOptions {
  /** How long to wait for CONNACK. */
  timeoutMs: number;
  /** The CA file's bytes (mqtts://). */
  ca?: Buffer;
}

/** How long a clean DISCONNECT may take before the socket is simply closed. */
const DISCONNECT_TIMEOUT_MS = 2000;

const noop = () => undefined;

/** Hints for CONNACK refusals other than bad credentials: MQTT 3.1.1 return codes and MQTT 5 reason codes. */
const REFUSAL_HINTS: Record<number, string> = {
  1: 'check broker.protocolVersion',
  2: 'check device.clientId',
  3: 'the broker is unavailable; try again later',
  0x84: 'check broker.protocolVersion',
  0x85: 'check device.clientId',
  0x88: 'the broker is unavailable; try again later',
  0x89: 'the broker is busy; try again later',
  0x8a: 'this device is banned',
  0x9f: 'too many connection attempts; wait and try again',
};

type Attempt = { connected: true; connack: IConnackPacket } | { connected: false; err: Error };

function connackCode(err: Error): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' && err.message.startsWith('Connection refused') ? code : undefined;
}

function describeFailure(config: AgentConfig, err: Error, timeoutMs: number): string {
  const b = config.broker;
  const v = b.protocolVersion;
  const rc = connackCode(err);
  const codeText = rc === undefined ? '' : v === 5 ? `0x${rc.toString(16)}` : String(rc);
  const cause = classifyError(err, v);
  switch (cause) {
    case 'auth':
      return `the platform refused the device credentials (CONNACK ${codeText}): check device.productKey/deviceName/secret and broker.signMethod`;
    case 'refused': {
      const reason = err.message.replace(/^Connection refused:\s*/, '');
      const hint = rc === undefined ? undefined : REFUSAL_HINTS[rc];
      return `the broker refused the connection (CONNACK ${codeText}: ${reason})${hint ? `: ${hint}` : ''}`;
    }
    case 'tls':
      return `TLS failed: ${err.message} (${errnoCode(err)}); check broker.caFile`;
    case 'timeout':
      return `no CONNACK from ${hostPort(b.host, b.port)} within ${timeoutMs} ms (timeout): is it an MQTT broker?`;
    default:
      return `${hostPort(b.host, b.port)}: ${err.message} (${errnoCode(err)})`;
  }
}

function attempt(options: IClientOptions, timeoutMs: number): Promise<{ result: Attempt; client: ReturnType<typeof mqttConnect> }> {
  return new Promise((resolve) => {
    const client = mqttConnect(options);
    let done = false;
    const finish = (result: Attempt) => {
      if (done) return;
      done = true;
      clearTimeout(guard);
      resolve({ result, client });
    };
    // MQTT.js has its own CONNACK timer; this one also bounds DNS and TCP connect, which that timer does not.
    const guard = setTimeout(() => finish({ connected: false, err: new Error('connack timeout') }), timeoutMs + 1000);
    // Stays attached for the client's whole life: a late error must not become an uncaught 'error' event.
    client.on('error', (err) => finish({ connected: false, err }));
    client.on('connect', (connack) => finish({ connected: true, connack }));
    client.on('close', () => finish({ connected: false, err: new Error('the broker closed the connection before CONNACK') }));
  });
}

function end(client: ReturnType<typeof mqttConnect>, force: boolean): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.end(true);
      resolve();
    }, DISCONNECT_TIMEOUT_MS);
    client.end(force, {}, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** CONNECT with the device's credentials; reports CONNACK success or the refusal, then disconnects. */
export async function checkCredentials(config: AgentConfig, o: CredentialsOptions): Promise<Finding[]> {
  const b = config.broker;
  const d = config.device;
  const creds = new CredentialSource({
    productKey: d.productKey,
    deviceName: d.deviceName,
    ...(d.clientId === undefined ? {} : { clientId: d.clientId }),
    secret: d.secret,
    signMethod: b.signMethod,
    secureMode: b.secureMode,
  }).next(false);
  const options: IClientOptions = {
    ...brokerConnectOptions(b, o.ca),
    connectTimeout: o.timeoutMs,
    reconnectPeriod: 0,
    clientId: creds.clientId,
    username: creds.username,
    password: creds.password,
    log: noop,
    // Refusing the ack keeps a queued message on the broker for the agent (see the file comment).
    customHandleAcks: (_topic, _message, _packet, done) => done(new Error('the doctor does not take messages')),
  };
  const { result, client } = await attempt(options, o.timeoutMs);
  const clock = result.connected && config.clock.ntp ? await checkClock(client, d, config.clock.farOffMs, o.timeoutMs) : undefined;
  await end(client, !result.connected);
  if (!result.connected) return [fail('credentials', describeFailure(config, result.err, o.timeoutMs))];
  const version = b.protocolVersion === 5 ? 'MQTT 5.0' : 'MQTT 3.1.1';
  const session = b.cleanSession ? '' : `, session ${result.connack.sessionPresent ? 'present' : 'not present'}`;
  const accepted = ok('credentials', `CONNACK accepted ${d.productKey}/${d.deviceName} (${version}, ${b.signMethod}, securemode=${b.secureMode}${session}); disconnected`);
  return clock ? [accepted, clock] : [accepted];
}
