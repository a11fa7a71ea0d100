import {
  isValidHostHeader,
  parseAbsoluteTarget,
  parseConnectTarget,
  parseWithUrl,
  plainHttpTarget,
  TargetError,
  type Target,
} from './request-target.js';

describe('parseAbsoluteTarget', () => {
  it('takes host, port and normalised path from the URI', () => {
    expect(parseAbsoluteTarget('http://Example.COM/a/../b?q=1')).toEqual({
      scheme: 'http',
      host: 'example.com',
      port: 80,
      path: '/b?q=1',
      authority: 'example.com',
      display: 'http://example.com/b?q=1',
    });
    expect(parseAbsoluteTarget('https://[::1]:8443/')).toMatchObject({
      scheme: 'https',
      host: '::1',
      port: 8443,
      authority: '[::1]:8443',
    });
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
    expect(parseConnectTarget('Example.com:443')).toMatchObject({
      host: 'example.com',
      port: 443,
      display: 'example.com:443',
    });
    expect(parseConnectTarget('[2001:db8::1]:443')).toMatchObject({
      host: '2001:db8::1',
      port: 443,
      display: '[2001:db8::1]:443',
    });
  });

  it.each([
    'example.com',
    'example.com:',
    'example.com:0',
    'example.com:65536',
    '2001:db8::1:443',
    '[::1]443',
    'a/b:443',
    ':443',
  ])('refuses %s', (t) => {
    expect(() => parseConnectTarget(t)).toThrow(TargetError);
  });
});

describe('isValidHostHeader', () => {
  it.each(['example.com', 'example.com:8080', '[::1]:80', '10.0.0.1', 'host_name.local.'])('accepts %s', (h) =>
    expect(isValidHostHeader(h)).toBe(true),
  );
  it.each(['bad host', 'user@host', 'a/b', 'host:port', '', 'x'.repeat(300)])('refuses %s', (h) =>
    expect(isValidHostHeader(h)).toBe(false),
  );
});

describe('plainHttpTarget', () => {
  /** What the URL parser makes of `t`: the target, or the error message. */
  const byUrl = (t: string): Target | string => {
    try {
      return parseWithUrl(t);
    } catch (err) {
      return (err as Error).message;
    }
  };
  const fast = (t: string): Target | string | undefined => {
    try {
      return plainHttpTarget(t);
    } catch (err) {
      return (err as Error).message;
    }
  };

  it('parses the common forms itself, exactly as the URL parser does', () => {
    for (const t of [
      'http://example.com/a?b=c',
      'http://127.0.0.1:18080/bench',
      'http://host:80/x',
      'http://h',
      'http://h:8080',
      'http://a.b.c./p;x=1?q=/a/../b',
    ]) {
      expect(plainHttpTarget(t)).toEqual(parseWithUrl(t));
    }
  });

  it('leaves every form the URL parser would rewrite to it', () => {
    for (const t of [
      'http://Example.com/',
      'http://0x7f.1/',
      'http://2130706433/',
      'http://1.2.3.4./',
      'http://h/a/../b',
      'http://h/%2e%2E/x',
      'http://h/p?',
      'http://h/p#f',
      "http://h/?a='b'",
      'http://h:080/',
      'http://h:/',
      'http://xn--nxasmq6b.com/',
      'http:///h/',
      'http://h\\p',
      'http://u@h/',
    ]) {
      expect(plainHttpTarget(t)).toBeUndefined();
    }
  });

  it('agrees with the URL parser on generated targets (result or refusal)', () => {
    const parts = [
      'a',
      'Z',
      '0',
      '1',
      '9',
      '255',
      '256',
      '07',
      '0x',
      '.',
      '..',
      '-',
      '_',
      '/',
      '?',
      '#',
      ':',
      '80',
      '8080',
      '65536',
      '@',
      '%2e',
      '%2E',
      '%20',
      'xn--',
      "'",
      '[',
      ']',
      '::1',
      ' ',
      '\\',
      '~',
      '!',
      'é',
      '&',
      '=',
    ];
    const hostParts = ['a', 'b', 'Z', '0', '1', '255', '256', '07', '0x', '.', '-', '_', 'xn--', 'é'];
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let plain = 0;
    for (let n = 0; n < 30_000; n++) {
      // A host-like start, an optional port, then anything.
      let t = 'http://';
      for (let k = 1 + rand(4); k > 0; k--) t += hostParts[rand(hostParts.length)];
      if (rand(3) === 0) t += `:${parts[rand(parts.length)]}`;
      for (let k = rand(8); k > 0; k--) t += parts[rand(parts.length)];
      const got = fast(t);
      if (got === undefined) continue;
      plain++;
      expect([t, got]).toEqual([t, byUrl(t)]);
    }
    // The generator must exercise the plain parser, not only its refusals.
    expect(plain).toBeGreaterThan(5000);
  });
});

describe('the forwarded path (what policy judges and the upstream gets)', () => {
  it.each([
    ['http://h/%73ecret/', '/secret/'],
    ['http://h//secret/', '/secret/'],
    ['http://h/a/../secret', '/secret'],
    ['http://h/a//../secret', '/secret'],
    ['http://h/a/%2e%2E/secret', '/secret'],
    ['http://h/a\\..\\secret', '/secret'],
    ['http://h\\\\secret', '/secret'],
    ['http://h/%7euser/%41', '/~user/A'],
    ['http://h/%c3%a9?q=%e2%82%ac', '/%C3%A9?q=%E2%82%AC'],
    // encoded slashes stay encoded (APIs use them inside one segment); URL rules read them as '/'
    ['http://h/group%2fproject', '/group%2Fproject'],
    ['http://h/%2Fsecret', '/%2Fsecret'],
    ['http://h/a%5cb', '/a%5Cb'],
    // decoded once, never twice
    ['http://h/%2573ecret', '/%2573ecret'],
    // ;params are forwarded; URL rules see the path without them
    ['http://h/public/..;/secret', '/public/..;/secret'],
    // the query: escapes normalised, slashes and dots left alone
    ['http://h/p?a=%2f%41//..', '/p?a=%2FA//..'],
    ['http://h/p?a=%zz&b=%00', '/p?a=%zz&b=%00'],
    // fragments are not sent
    ['http://h/p#frag', '/p'],
    // OPTIONS http://h (no path) is forwarded as OPTIONS /
    ['http://h', '/'],
  ])('%s -> %s', (t, path) => {
    const target = parseAbsoluteTarget(t);
    expect(target.path).toBe(path);
    expect(target.display).toBe(`http://h${path}`);
    // Idempotent: parsing what is forwarded forwards it unchanged.
    expect(parseAbsoluteTarget(`http://h${path}`).path).toBe(path);
  });

  it.each([
    ['http://h/a%00b', /%00/],
    ['http://h/a%zzb', /malformed percent-encoding "%zz"/],
    ['http://h/a%4', /malformed percent-encoding/],
    ['*', /unsupported request target "\*"/],
  ])('refuses %s', (t, why) => {
    expect(() => parseAbsoluteTarget(t)).toThrow(TargetError);
    expect(() => parseAbsoluteTarget(t)).toThrow(why);
  });

  it('leaves escapes and repeated slashes in the path to the full parser, normalises query escapes itself', () => {
    for (const t of ['http://h/%73', 'http://h//x', 'http://h/a//b']) expect(plainHttpTarget(t)).toBeUndefined();
    expect(plainHttpTarget('http://h/p?q=%7e%2f')).toEqual(parseWithUrl('http://h/p?q=%7e%2f'));
    expect(plainHttpTarget('http://h/p?q=%7e%2f')?.path).toBe('/p?q=~%2F');
  });

  it('a CONNECT has no path for URL conditions', () => {
    expect(parseConnectTarget('h:443').path).toBe('');
  });
});
