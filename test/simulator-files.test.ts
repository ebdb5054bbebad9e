/** The simulator's signed file URLs (simulator/http/files.ts): served while valid, refused when changed or expired. */
import { FileStore } from '../simulator/http/files';

describe('FileStore', () => {
  let now = 1_700_000_000_000;
  const files = new FileStore(() => 'http://127.0.0.1:1', () => now);
  const serve = (url: string) => {
    const u = new URL(url);
    return files.serve(u.pathname, u.searchParams);
  };

  it('serves a stored file at its signed URL until it expires', () => {
    const url = files.put('config/p/1', Buffer.from('hello'), 'text/plain', 60);
    expect(serve(url)).toMatchObject({ status: 200, contentType: 'text/plain' });
    expect(serve(url).body.toString()).toBe('hello');
    now += 61_000;
    expect(serve(url)).toMatchObject({ status: 403 });
    expect(serve(url).body.toString()).toContain('expired');
  });

  it('refuses a URL whose id, expiry or signature was changed', () => {
    const url = files.put('config/p/2', Buffer.from('x'));
    expect(serve(url.replace('config%2Fp%2F2', 'config%2Fp%2F3')).status).toBe(403);
    expect(serve(url.replace(/Expires=\d+/, 'Expires=9999999999')).status).toBe(403);
    expect(serve(url.replace(/Signature=[0-9a-f]/, 'Signature=z')).status).toBe(403);
    expect(serve(url.replace(/&Signature=.*/, '')).status).toBe(403);
  });

  it('answers 404 for a validly signed URL of nothing', () => {
    expect(serve(files.url('nothing/here')).status).toBe(404);
  });
});
