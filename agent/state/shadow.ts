/**
 * The device shadow (docs/protocol/desired-shadow.md §2). After every connect the agent sends `get` on
 * `/shadow/update`; the `get` reply and every `control` message (pushed when the cloud updates the desired state)
 * carry `state.desired`. Desired attributes that are read-write properties are checked against the Thing Model and
 * applied through the property-set path; the agent then reports the new state and clears `desired` in one update
 * with the next version. Attributes the Thing Model refuses are logged and cleared with the rest; when a plugin
 * refuses, nothing is reported and `desired` stays for the next connect.
 */
import { isPlainObject } from '../../thing-model';
import type { InboundMessage } from '../transport';
import { checkValues, type StateDeps } from './deps';

/** What the agent last learned of the shadow's version; updates use the next one. */
export class DeviceShadow {
  private version = 0;
  private tokens = 0;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly deps: StateDeps) {}

  /** The shadow's version as last seen. */
  get currentVersion(): number {
    return this.version;
  }

  /** Asks for the shadow document (after every connect). */
  requestDocument(): Promise<void> {
    return this.publish({ method: 'get', clientToken: this.token() });
  }

  /** A message on `/shadow/get/{pk}/{dn}`. Never rejects; messages are handled one at a time, in order. */
  handle(msg: InboundMessage): Promise<void> {
    this.chain = this.chain.then(() => this.onMessage(msg.payload)).catch((err: unknown) => this.deps.logger.warn({ err }, 'shadow message failed'));
    return this.chain;
  }

  private async onMessage(payload: Buffer): Promise<void> {
    const log = this.deps.logger;
    this.deps.observer?.messageIn('shadow');
    let m: unknown;
    try {
      m = JSON.parse(payload.toString('utf8'));
    } catch {
      log.warn('shadow message is not JSON; dropped');
      return;
    }
    if (!isPlainObject(m)) return;
    const body = isPlainObject(m.payload) ? m.payload : {};
    // Python's SDK reads the version at the top level, else in `payload`.
    const version = typeof m.version === 'number' ? m.version : typeof body.version === 'number' ? body.version : undefined;
    if (m.method === 'reply' && body.status === 'error') {
      const content = isPlainObject(body.content) ? body.content : {};
      // 407: the device has no shadow document yet (docs/protocol/desired-shadow.md §2), the normal answer to the
      // `get` of a device nobody set a desired state for: every gateway of a fleet logged a warning for it.
      if (String(content.errorcode) === '407') return void log.debug('no shadow document yet');
      log.warn({ errorcode: content.errorcode, errormessage: content.errormessage }, 'shadow update refused');
      // A refused version: learn the current one, and act on what is desired there.
      if (String(content.errorcode) === '403') await this.requestDocument();
      return;
    }
    if (version !== undefined && version > this.version) this.version = version;
    if (m.method !== 'reply' && m.method !== 'control') return;
    const state = isPlainObject(body.state) ? body.state : undefined;
    if (state && isPlainObject(state.desired) && Object.keys(state.desired).length > 0) await this.applyDesired(state.desired);
  }

  private async applyDesired(desired: Record<string, unknown>): Promise<void> {
    const { deps } = this;
    const props: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(desired)) {
      if (deps.model.property(k)) props[k] = v;
      else deps.logger.warn({ attribute: k }, 'shadow: desired attribute is not a property of the Thing Model; ignored');
    }
    const { valid } = checkValues(deps, props, 'shadow desired value');
    if (Object.keys(valid).length > 0) {
      const failure = await deps.apply(valid, '');
      if (failure) {
        deps.logger.warn({ properties: Object.keys(valid), code: failure.code, reason: failure.message }, 'shadow desired values not applied; kept');
        return;
      }
      deps.posted(valid);
      deps.logger.info({ properties: Object.keys(valid) }, 'shadow desired values applied');
    }
    // Report the new state and clear desired (C4's convention: `"desired": "null"`).
    await this.publish({ method: 'update', state: { reported: valid, desired: 'null' }, version: ++this.version, clientToken: this.token() });
  }

  private token(): string {
    return `agent-${++this.tokens}`;
  }

  private async publish(body: Record<string, unknown>): Promise<void> {
    try {
      const receipt = await this.deps.uplink.publish(this.deps.topics.shadowUpdate, JSON.stringify(body), { qos: 1, messageClass: 'shadow' });
      receipt.acked.catch(() => undefined);
    } catch (err) {
      this.deps.logger.warn({ err: (err as Error).message, method: body.method }, 'shadow request not sent');
    }
  }
}
