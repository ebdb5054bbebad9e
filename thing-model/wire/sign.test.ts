import { buildCredentials, parseClientId, parseSignMethod, signContent, signDevice } from './sign';

// Vectors from docs/protocol/connecting.md, "Test vectors".
describe('device signature', () => {
  it('reproduces vector A (the documentation example)', () => {
    const sig = signDevice({ productKey: 'pk', deviceName: 'device', deviceSecret: 'secret', clientId: '12345', timestamp: 789, signMethod: 'hmacsha1' });
    expect(sig.toUpperCase()).toBe('FAFD82A3D602B37FB0FA8B7892F24A477F851A14');
    expect(signContent({ productKey: 'pk', deviceName: 'device', clientId: '12345', timestamp: 789 })).toBe(
      'clientId12345deviceNamedeviceproductKeypktimestamp789',
    );
  });

  const b = { productKey: 'a1GwDemo01', deviceName: 'gw-001', deviceSecret: '3f6c0a9d27b84e1c95d2a7e41b08c6f3', clientId: 'a1GwDemo01.gw-001', timestamp: 1700000000000 };
  it.each([
    ['hmacsha256', '68d3ff421d7a5bc571c08e61fd5206be40735efa3a78242f3b1245932db03314'],
    ['hmacsha1', '77aef4bae332c4d6ffff48faa3e448185e3ff503'],
    ['hmacmd5', '4bd700ccb08a526c0984c527c0f7878a'],
  ] as const)('reproduces vector B with %s', (signMethod, expected) => {
    expect(signDevice({ ...b, signMethod })).toBe(expected);
  });

  it('signs without a timestamp when none is given', () => {
    const { timestamp: _t, ...noTs } = b;
    expect(signDevice({ ...noTs, signMethod: 'hmacsha256' })).toBe('e8a57bbb9849858d701b7f176ee921863eb35b1fe78c16c3bb0507c6807ec0e4');
  });

  it('builds the CONNECT credentials of vector B', () => {
    const c = buildCredentials({ ...b, signMethod: 'hmacsha256', secureMode: 2, clientId: undefined });
    expect(c).toEqual({
      clientId: 'a1GwDemo01.gw-001|securemode=2,signmethod=hmacsha256,timestamp=1700000000000|',
      username: 'gw-001&a1GwDemo01',
      password: '68d3ff421d7a5bc571c08e61fd5206be40735efa3a78242f3b1245932db03314',
    });
  });

  it('adds extension parameters such as ext=1', () => {
    const c = buildCredentials({ ...b, signMethod: 'hmacsha1', secureMode: 3, extra: { ext: '1' } });
    expect(c.clientId).toBe('a1GwDemo01.gw-001|securemode=3,signmethod=hmacsha1,timestamp=1700000000000,ext=1|');
  });

  it('reads every spelling of a sign method, and nothing else', () => {
    expect(parseSignMethod('hmacsha256')).toBe('hmacsha256');
    expect(parseSignMethod('HmacSHA256')).toBe('hmacsha256');
    expect(parseSignMethod('sha256')).toBe('hmacsha256');
    expect(parseSignMethod('hmacSha1')).toBe('hmacsha1');
    expect(parseSignMethod('hmacMd5')).toBe('hmacmd5');
    expect(parseSignMethod('sha512')).toBeUndefined();
    expect(parseSignMethod('')).toBeUndefined();
  });

  it('parses client ids, including the official Node SDK one', () => {
    expect(parseClientId('a1TestPK01&dev1|securemode=3,signmethod=hmacsha1,timestamp=1795416833397,lan=NodeJS,_v=1.2.8|')).toEqual({
      cid: 'a1TestPK01&dev1',
      params: { securemode: '3', signmethod: 'hmacsha1', timestamp: '1795416833397', lan: 'NodeJS', _v: '1.2.8' },
    });
    expect(parseClientId('plain-client')).toBeUndefined();
    expect(parseClientId('x|novalue|')).toBeUndefined();
  });
});
