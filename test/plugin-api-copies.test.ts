/**
 * Two copies of the plugin API in one process (a plugin installed with its own copy of alink-agent): errors built
 * by one copy are recognised by the other, by `instanceof` as well as by code, and the agent's reply code of a
 * plugin's `HandlerError` survives the copy.
 */
import * as api from '../handlers/api';
import { replyCodeOf } from '../agent/router/replies';

function secondCopy(): typeof api {
  let copy: typeof api | undefined;
  jest.isolateModules(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    copy = require('../handlers/api') as typeof api;
  });
  if (!copy || copy.HandlerError === api.HandlerError) throw new Error('jest.isolateModules gave the same module');
  return copy;
}

describe('errors across two copies of the plugin API', () => {
  const other = secondCopy();

  it("recognises the other copy's HandlerError by instanceof and by code", () => {
    const err = new other.HandlerError('serial port busy', 100_042);
    expect(err instanceof api.HandlerError).toBe(true);
    expect(err instanceof api.AlinkError).toBe(true);
    expect(err instanceof Error).toBe(true);
    expect(err instanceof api.ValidationError).toBe(false);
    expect(api.isAlinkError(err)).toBe(true);
    expect(replyCodeOf(err)).toEqual({ code: 100_042, message: 'serial port busy' });
    // and the other way round: the agent's errors seen from the plugin's copy
    expect(new api.ValidationError([], 'bad') instanceof other.ValidationError).toBe(true);
    expect(new api.CloudReplyError(6813, 'bad') instanceof other.CloudReplyError).toBe(true);
    expect(new api.ThrottleError() instanceof other.HandlerError).toBe(false);
  });

  it('keeps a subclass a plugin defines recognisable in its own copy and as the base in the other', () => {
    class SerialError extends other.HandlerError {}
    const err = new SerialError('no reply from slave 3', 100_100);
    expect(err instanceof SerialError).toBe(true);
    expect(err instanceof api.HandlerError).toBe(true);
    expect(replyCodeOf(err).code).toBe(100_100);
  });

  it("recognises the other copy's UpstreamTimeoutError and TopicError, and nothing else with another code", () => {
    expect(new other.UpstreamTimeoutError('1', 't', 5) instanceof api.UpstreamTimeoutError).toBe(true);
    expect(new api.TopicError('x') instanceof other.TopicError).toBe(true);
    expect(new api.TopicError('x') instanceof other.UpstreamTimeoutError).toBe(false);
    expect(Object.assign(new Error('fake'), { code: 400 }) instanceof api.HandlerError).toBe(false);
    expect({ code: 'UPSTREAM_TIMEOUT' } instanceof api.UpstreamTimeoutError).toBe(false);
  });

  it('is not fooled by an unbranded error with a matching name', () => {
    const fake = Object.assign(new Error('x'), { name: 'HandlerError', code: 100_001 });
    expect(fake instanceof api.HandlerError).toBe(false);
    expect(replyCodeOf(fake).code).toBe(400);
  });
});
