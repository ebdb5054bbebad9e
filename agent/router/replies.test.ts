/**
 * replyCodeOf recognises a plugin's error by its brand and `code`, not by `instanceof`: a plugin installed with its
 * own copy of the plugin API throws errors of classes the agent never saw, and still gets its code in the reply.
 */
import { AlinkCodes, AlinkError, HandlerError, ThrottleError, ValidationError } from '../../thing-model/codes';
import pino from 'pino';
import type { Uplink } from '../transport';
import { MemoryReplyCache, Replier, RRPC_KEY_PREFIX, replyCodeOf } from './replies';

/** A second, independent copy of the module the plugin API re-exports its errors from. */
function secondCopy(): typeof import('../../thing-model/codes') {
  let mod: typeof import('../../thing-model/codes') | undefined;
  jest.isolateModules(() => {
    mod = jest.requireActual<typeof import('../../thing-model/codes')>('../../thing-model/codes');
  });
  if (!mod) throw new Error('second copy not loaded');
  return mod;
}

describe('replyCodeOf', () => {
  it('keeps the codes a device may send and turns anything else into 400', () => {
    expect(replyCodeOf(new HandlerError('sensor offline', 100042))).toEqual({ code: 100042, message: 'sensor offline' });
    expect(replyCodeOf(new ThrottleError('busy'))).toEqual({ code: AlinkCodes.TOO_MANY_REQUESTS, message: 'busy' });
    expect(replyCodeOf(new ValidationError([], 'Speed: expected int')).code).toBe(AlinkCodes.PARAM_ERROR);
    expect(replyCodeOf(new AlinkError(AlinkCodes.DEVICE_DISABLED, 'platform code'))).toEqual({ code: AlinkCodes.REQUEST_ERROR, message: 'platform code' });
    expect(replyCodeOf(new Error('boom'))).toEqual({ code: AlinkCodes.REQUEST_ERROR, message: 'boom' });
    expect(replyCodeOf('a string')).toEqual({ code: AlinkCodes.REQUEST_ERROR, message: 'a string' });
  });

  it("gives a HandlerError from a second copy of the API its code, by brand and code", () => {
    const other = secondCopy();
    expect(other.HandlerError).not.toBe(HandlerError);
    const err = new other.HandlerError('valve stuck', 100007);
    // instanceof knows it too: AlinkError checks the brand and class names a copy records (thing-model/codes.ts)
    expect(err).toBeInstanceOf(AlinkError);
    expect(replyCodeOf(err)).toEqual({ code: 100007, message: 'valve stuck' });
    expect(replyCodeOf(new other.ThrottleError()).code).toBe(AlinkCodes.TOO_MANY_REQUESTS);
  });

  it('does not take an unbranded object with a code for an Alink error', () => {
    const lookAlike = Object.assign(new Error('not ours'), { code: 100007 });
    expect(replyCodeOf(lookAlike)).toEqual({ code: AlinkCodes.REQUEST_ERROR, message: 'not ours' });
    const branded = { [Symbol.for('alink-agent.AlinkError')]: true, code: AlinkCodes.PARAM_ERROR, message: 'built by hand' };
    expect(replyCodeOf(branded)).toEqual({ code: AlinkCodes.PARAM_ERROR, message: 'built by hand' });
  });
});

describe('MemoryReplyCache and the sync RRPC path', () => {
  it('stays within its bound, evicting the oldest reply first', () => {
    const cache = new MemoryReplyCache(3);
    for (let i = 0; i < 10; i++) cache.put(`rrpc:${i}`, { topic: `t/${i}`, payload: `{"id":"${i}"}` });
    expect(cache.size()).toBe(3);
    expect(cache.get('rrpc:6')).toBeUndefined();
    expect(cache.get('rrpc:9')).toEqual({ topic: 't/9', payload: '{"id":"9"}' });
  });

  it('answers a duplicate sync RRPC from memory, never touching the durable cache', async () => {
    const durable = { get: jest.fn(), put: jest.fn() };
    const published: { topic: string; payload: string | Buffer }[] = [];
    const uplink = {
      publish: (topic: string, payload: string | Buffer) => {
        published.push({ topic, payload });
        return Promise.resolve({ acked: Promise.resolve() });
      },
    } as unknown as Uplink;
    const replier = new Replier(uplink, pino({ level: 'silent' }), durable, undefined);
    await replier.send('/rrpc/response/7', '{"id":"1","code":200,"data":{}}', 0, `${RRPC_KEY_PREFIX}7`);
    expect(replier.replay(`${RRPC_KEY_PREFIX}7`, 0)).toBe(true);
    expect(replier.replay(`${RRPC_KEY_PREFIX}8`, 0)).toBe(false);
    expect(published.map((p) => p.payload)).toEqual(['{"id":"1","code":200,"data":{}}', '{"id":"1","code":200,"data":{}}']);
    expect(durable.put).not.toHaveBeenCalled();
    expect(durable.get).not.toHaveBeenCalled();
    await replier.send('/thing/service/x_reply', '{"id":"2","code":200,"data":{}}', 1, 'svc:2');
    expect(durable.put).toHaveBeenCalledWith('svc:2', { topic: '/thing/service/x_reply', payload: '{"id":"2","code":200,"data":{}}' });
  });
});
