import { parseBasicAuthorization } from './basic-credentials.js';

const basic = (s: string) => `Basic ${Buffer.from(s, 'utf8').toString('base64')}`;

describe('parseBasicAuthorization', () => {
  it('reads user and password, keeping colons in the password', () => {
    expect(parseBasicAuthorization(basic('alice:pa:ss word'))).toEqual({
      ok: true,
      credentials: { user: 'alice', password: 'pa:ss word' },
    });
  });

  it('accepts the scheme in any case and UTF-8 names', () => {
    expect(parseBasicAuthorization(`bAsIc ${Buffer.from('zoë:пароль').toString('base64')}`)).toEqual({
      ok: true,
      credentials: { user: 'zoë', password: 'пароль' },
    });
  });

  it.each([
    [undefined, 'no Proxy-Authorization header'],
    ['', 'no Proxy-Authorization header'],
    ['Basic', 'malformed Proxy-Authorization header'],
    ['Basic a b', 'malformed Proxy-Authorization header'],
    ['Bearer abc.def', 'unsupported authentication scheme "Bearer"'],
    ['Basic !!!!', 'Basic credentials are not valid base64'],
    ['Basic YWJj', 'Basic credentials have no ":" between user and password'],
    [basic(':secret'), 'Basic credentials have an empty user name'],
    [basic('alice:'), 'Basic credentials have an empty password'],
    [basic('al\nice:x'), 'user name contains control characters'],
    [`Basic ${'A'.repeat(5000)}`, 'Proxy-Authorization header too long'],
  ])('refuses %p', (header, reason) => {
    expect(parseBasicAuthorization(header)).toEqual({ ok: false, reason });
  });

  it('never echoes the credentials in a reason', () => {
    const result = parseBasicAuthorization('Basic c2VjcmV0LXdpdGhvdXQtY29sb24=');
    expect(result.ok).toBe(false);
    expect(JSON.stringify(result)).not.toContain('secret');
  });
});
