import { collapseSlashes, matchingPath, normaliseEscapes, PathError, removeDotSegments } from './url-path.js';

describe('normaliseEscapes', () => {
  it.each([
    ['/%73ecret/', '/secret/'],
    ['/%7E%2d%2E%5f%41%7a%30', '/~-._Az0'],
    ['/a%2fb', '/a%2Fb'],
    ['/a%2Fb', '/a%2Fb'],
    ['/%c3%a9', '/%C3%A9'],
    ['/%20', '/%20'],
    ['/%2573ecret', '/%2573ecret'],
    ['/%25%37%33ecret', '/%2573ecret'],
    ['/plain', '/plain'],
  ])('%s -> %s (decoded once, other escapes upper-cased)', (input, out) => {
    expect(normaliseEscapes(input, true)).toBe(out);
    expect(normaliseEscapes(out, true)).toBe(out);
  });

  it.each(['/%00', '/a%zz', '/a%4', '/a%', '/%0g'])('refuses %s in the strict (path) form', (input) => {
    expect(() => normaliseEscapes(input, true)).toThrow(PathError);
  });

  it('keeps malformed escapes and %00 as they are in the lenient (query) form', () => {
    expect(normaliseEscapes('?a=%zz&b=%00&c=%4&d=%', false)).toBe('?a=%zz&b=%00&c=%4&d=%');
    expect(normaliseEscapes('?q=%73%3d', false)).toBe('?q=s%3D');
  });
});

describe('collapseSlashes and removeDotSegments', () => {
  it.each([
    ['//secret/', '/secret/'],
    ['/a///b', '/a/b'],
    ['/a\\\\b', '/a/b'],
    ['/a/b', '/a/b'],
  ])('collapses %s', (input, out) => expect(collapseSlashes(input)).toBe(out));

  it.each([
    ['/a/../secret', '/secret'],
    ['/a/./b', '/a/b'],
    ['/../../x', '/x'],
    ['/a/..', '/'],
    ['/a/.', '/a/'],
    ['/a/b/..', '/a/'],
    ['/a..b/.c', '/a..b/.c'],
    ['/', '/'],
  ])('resolves %s', (input, out) => expect(removeDotSegments(input)).toBe(out));
});

describe('matchingPath: what URL conditions see', () => {
  it.each([
    // unreserved escapes, repeated slashes, dot segments
    ['/%73ecret/', '/secret/'],
    ['//secret/', '/secret/'],
    ['/a/../secret', '/secret'],
    ['/a//../secret', '/secret'],
    ['/%2e%2e/secret', '/secret'],
    // encoded slashes (and backslashes) are read as separators: an upstream that decodes them serves this path
    ['/%2Fsecret', '/secret'],
    ['/%2fsecret', '/secret'],
    ['/public%2F..%2Fsecret', '/secret'],
    ['/public/..%5Csecret', '/secret'],
    ['/pub%2Fsecret', '/pub/secret'],
    // ;params dropped per segment (Tomcat's /..;/)
    ['/public/..;/secret', '/secret'],
    ['/secret;jsessionid=1/x', '/secret/x'],
    ['/a;b', '/a'],
    // never decoded twice
    ['/%2573ecret', '/%2573ecret'],
    ['/%252Fsecret', '/%252Fsecret'],
    // the query is matched as forwarded: escapes normalised, nothing else
    ['/p?x=%73//../a;b', '/p?x=s//../a;b'],
    ['/p?u=%2f', '/p?u=%2F'],
    // CONNECT has no path
    ['', ''],
  ])('%s -> %s', (input, out) => {
    expect(matchingPath(input)).toBe(out);
    expect(matchingPath(out)).toBe(out);
  });
});
