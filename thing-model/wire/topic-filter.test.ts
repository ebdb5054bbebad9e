/** MQTT topic filters: the syntax check and the compiled matcher, including the edge cases of '#' and '+'. */
import { compileFilter, filterSyntaxError } from './topic-filter';

describe('filterSyntaxError', () => {
  it('accepts whole-level wildcards and plain filters', () => {
    for (const f of ['a/b', '+', '#', 'a/+/c', 'a/#', '/a1/dev/user/+/x']) expect(filterSyntaxError(f)).toBeUndefined();
  });

  it('names what is wrong with a bad filter', () => {
    expect(filterSyntaxError('')).toBe('empty filter');
    expect(filterSyntaxError('a/#/b')).toBe(`'#' must be a whole last level`);
    expect(filterSyntaxError('a/b#')).toBe(`'#' must be a whole last level`);
    expect(filterSyntaxError('a/b+')).toBe(`'+' must be a whole level`);
  });
});

describe('compileFilter', () => {
  const matches = (filter: string, topic: string) => compileFilter(filter).test(topic);

  it('+ matches exactly one level, possibly empty', () => {
    expect(matches('a/+/c', 'a/b/c')).toBe(true);
    expect(matches('a/+/c', 'a//c')).toBe(true);
    expect(matches('a/+/c', 'a/b/x/c')).toBe(false);
    expect(matches('a/+', 'a/b/c')).toBe(false);
  });

  it('# matches the parent level and everything below it', () => {
    expect(matches('a/#', 'a')).toBe(true);
    expect(matches('a/#', 'a/b/c')).toBe(true);
    expect(matches('a/#', 'ab')).toBe(false);
    expect(matches('#', 'anything/at/all')).toBe(true);
  });

  it('escapes regular-expression characters in literal levels', () => {
    expect(matches('a.b/c', 'a.b/c')).toBe(true);
    expect(matches('a.b/c', 'axb/c')).toBe(false);
    expect(matches('x(1)/+', 'x(1)/y')).toBe(true);
  });
});
