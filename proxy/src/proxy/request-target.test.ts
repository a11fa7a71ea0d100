import { isValidHostHeader, parseAbsoluteTarget, parseConnectTarget, TargetError } from './request-target.js';

describe('parseAbsoluteTarget', () => {
  it('takes host, port and normalised path from the URI', () => {
    expect(parseAbsoluteTarget('http://Example.COM/a/../b?q=1')).toEqual({
      scheme: 'http', host: 'example.com', port: 80, path: '/b?q=1', authority: 'example.com', display: 'http://example.com/b?q=1',
    });
    expect(parseAbsoluteTarget('https://[::1]:8443/')).toMatchObject({ scheme: 'https', host: '::1', port: 8443, authority: '[::1]:8443' });
  });

  it('normalises numeric IPv4 forms, so policy and guard see the real address', () => {
    expect(parseAbsoluteTarget('http://2130706433/').host).toBe('127.0.0.1');
    expect(parseAbsoluteTarget('http://0x7f.1/').host).toBe('127.0.0.1');
  });

  it.each([
    ['/relative', /this is a proxy/],
    ['ftp://example.com/', /only http:\/\/ and https:\/\//],
    ['http://user:pw@example.com/', /credentials/],
    ['http://exa mple.com/', /malformed URL/],
    ['http://a_b!.com/', /not a valid host name|malformed/],
  ])('refuses %s', (target, why) => {
    expect(() => parseAbsoluteTarget(target)).toThrow(TargetError);
    expect(() => parseAbsoluteTarget(target)).toThrow(why);
  });
});

describe('parseConnectTarget', () => {
  it('parses names, IPv4 and bracketed IPv6', () => {
    expect(parseConnectTarget('Example.com:443')).toMatchObject({ host: 'example.com', port: 443, display: 'example.com:443' });
    expect(parseConnectTarget('[2001:db8::1]:443')).toMatchObject({ host: '2001:db8::1', port: 443, display: '[2001:db8::1]:443' });
  });

  it.each(['example.com', 'example.com:', 'example.com:0', 'example.com:65536', '2001:db8::1:443', '[::1]443', 'a/b:443', ':443'])(
    'refuses %s',
    (t) => {
      expect(() => parseConnectTarget(t)).toThrow(TargetError);
    },
  );
});

describe('isValidHostHeader', () => {
  it.each(['example.com', 'example.com:8080', '[::1]:80', '10.0.0.1', 'host_name.local.'])('accepts %s', (h) => expect(isValidHostHeader(h)).toBe(true));
  it.each(['bad host', 'user@host', 'a/b', 'host:port', '', 'x'.repeat(300)])('refuses %s', (h) => expect(isValidHostHeader(h)).toBe(false));
});
