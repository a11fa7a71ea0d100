import { compilePolicy, type PolicySetSpec, type RequestContext, type RuleSpec } from './index.js';

function req(over: Partial<RequestContext> = {}): RequestContext {
  return {
    clientIp: '10.1.2.3',
    method: 'GET',
    host: 'www.example.com',
    port: 443,
    path: '/',
    scheme: 'https',
    headers: {},
    time: new Date('2026-11-23T12:00:00Z'), // a Monday
    ...over,
  };
}

const base: PolicySetSpec = {
  categories: [
    { name: 'social', domains: ['facebook.com', '*.tiktok.com', '.instagram.com'] },
    { name: 'news', domains: ['news.example', 'bücher.example'] },
    { name: 'mixed', domains: ['facebook.com', 'example.org'] },
  ],
  userGroups: [
    { name: 'staff', users: ['alice', 'bob'] },
    { name: 'engineers', users: [] },
  ],
  timeProfiles: [
    { name: 'work', days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'], from: '09:00', to: '18:00', timeZone: 'Asia/Kolkata' },
    { name: 'night', days: ['Mon'], from: '22:00', to: '06:00', timeZone: 'UTC' },
    { name: 'ny-morning', from: '08:00', to: '12:00', timeZone: 'America/New_York' },
  ],
};

/** One rule that denies when `match` holds; everything else falls to the default (allow). */
function oneRule(match: RuleSpec['match']) {
  return compilePolicy([
    {
      name: 'p',
      spec: { ...base, rules: [{ name: 'r', action: 'deny', match }], accessRestriction: { defaultAction: 'allow' } },
    },
  ]);
}

describe('conditions', () => {
  type Row = [string, RuleSpec['match'], Partial<RequestContext>, boolean];
  const rows: Row[] = [
    ['empty match matches everything', {}, {}, true],
    ['sources IPv4 in', { sources: ['10.0.0.0/8'] }, { clientIp: '10.9.9.9' }, true],
    ['sources IPv4 out', { sources: ['10.0.0.0/8'] }, { clientIp: '11.0.0.1' }, false],
    ['sources IPv4-mapped client', { sources: ['10.0.0.0/8'] }, { clientIp: '::ffff:10.0.0.7' }, true],
    ['sources IPv6 in', { sources: ['2001:db8::/32'] }, { clientIp: '2001:db8:1::5' }, true],
    ['sources IPv6 out', { sources: ['2001:db8::/32'] }, { clientIp: '2001:db9::5' }, false],
    ['sources IPv6 loopback', { sources: ['::1'] }, { clientIp: '::1' }, true],
    ['sources unparsable client', { sources: ['0.0.0.0/0'] }, { clientIp: 'garbage' }, false],
    ['users in', { users: ['alice'] }, { user: 'alice' }, true],
    ['users out', { users: ['alice'] }, { user: 'mallory' }, false],
    ['users anonymous', { users: ['alice'] }, {}, false],
    ['groups by policy membership', { groups: ['staff'] }, { user: 'bob' }, true],
    ['groups by authenticator groups', { groups: ['engineers'] }, { user: 'carol', groups: ['engineers'] }, true],
    ['groups no membership', { groups: ['staff'] }, { user: 'carol', groups: ['other'] }, false],
    ['domains exact', { domains: ['www.example.com'] }, {}, true],
    ['domains exact does not match subdomain', { domains: ['example.com'] }, { host: 'a.example.com' }, false],
    ['domains *.suffix matches subdomain', { domains: ['*.example.com'] }, { host: 'a.b.example.com' }, true],
    ['domains *.suffix does not match apex', { domains: ['*.example.com'] }, { host: 'example.com' }, false],
    ['domains *.suffix does not match lookalike', { domains: ['*.example.com'] }, { host: 'badexample.com' }, false],
    ['domains .suffix matches apex', { domains: ['.example.com'] }, { host: 'example.com' }, true],
    ['domains .suffix matches subdomain', { domains: ['.example.com'] }, { host: 'x.example.com' }, true],
    ['domains host case-insensitive', { domains: ['www.example.com'] }, { host: 'WWW.Example.COM' }, true],
    ['domains pattern case-insensitive', { domains: ['WWW.EXAMPLE.COM'] }, {}, true],
    ['domains trailing dot on host', { domains: ['www.example.com'] }, { host: 'www.example.com.' }, true],
    ['domains trailing dot on pattern', { domains: ['www.example.com.'] }, {}, true],
    ['domains IDN pattern, punycode host', { domains: ['bücher.example'] }, { host: 'xn--bcher-kva.example' }, true],
    ['domains punycode pattern, IDN host', { domains: ['xn--bcher-kva.example'] }, { host: 'BÜCHER.example' }, true],
    ['domains IPv4 literal', { domains: ['192.0.2.10'] }, { host: '192.0.2.10' }, true],
    ['domains IPv6 literal, bracketed host', { domains: ['2001:db8::1'] }, { host: '[2001:DB8:0::1]' }, true],
    ['domainRegex match', { domainRegex: '^ads\\.' }, { host: 'ADS.tracker.test' }, true],
    ['domainRegex no match', { domainRegex: '^ads\\.' }, { host: 'www.tracker.test' }, false],
    ['categories exact', { categories: ['social'] }, { host: 'facebook.com' }, true],
    ['categories exact not subdomain', { categories: ['social'] }, { host: 'm.facebook.com' }, false],
    ['categories wildcard', { categories: ['social'] }, { host: 'www.tiktok.com' }, true],
    ['categories apex+sub', { categories: ['social'] }, { host: 'instagram.com' }, true],
    ['categories IDN', { categories: ['news'] }, { host: 'xn--bcher-kva.example.' }, true],
    ['categories other', { categories: ['social'] }, { host: 'news.example' }, false],
    ['categories any of several', { categories: ['news', 'social'] }, { host: 'news.example' }, true],
    [
      'domains AND categories both needed',
      { domains: ['facebook.com'], categories: ['news'] },
      { host: 'facebook.com' },
      false,
    ],
    ['urlRegex match', { urlRegex: '^/downloads/' }, { path: '/downloads/x.zip' }, true],
    ['urlRegex no match', { urlRegex: '^/downloads/' }, { path: '/index.html' }, false],
    ['urlRegex sees the query', { urlRegex: 'debug=1' }, { path: '/a?debug=1' }, true],
    ['urlRegex CONNECT has no path', { urlRegex: '^/' }, { method: 'CONNECT', path: '' }, false],
    // URL conditions see the normalised path (url-path.ts), whatever form the caller passes
    ['urlRegex encoded unreserved', { urlRegex: '^/secret' }, { path: '/%73ecret/' }, true],
    ['urlRegex repeated slashes', { urlRegex: '^/secret' }, { path: '//secret/' }, true],
    ['urlRegex dot segments', { urlRegex: '^/secret' }, { path: '/a/../secret' }, true],
    ['urlRegex encoded slash read as /', { urlRegex: '^/secret' }, { path: '/%2Fsecret' }, true],
    ['urlRegex encoded slash in a dot segment', { urlRegex: '^/secret' }, { path: '/public%2F..%2Fsecret' }, true],
    ['urlRegex ;params dropped', { urlRegex: '^/secret$' }, { path: '/public/..;/secret;x=1' }, true],
    ['urlRegex double encoding is not decoded twice', { urlRegex: '^/secret' }, { path: '/%2573ecret' }, false],
    ['urlRegex upper-case hex', { urlRegex: '%2F' }, { path: '/?u=%2f' }, true],
    ['methods in', { methods: ['POST', 'GET'] }, {}, true],
    ['methods case-insensitive', { methods: ['post'] }, { method: 'POST' }, true],
    ['methods out', { methods: ['POST'] }, {}, false],
    ['methods CONNECT', { methods: ['CONNECT'] }, { method: 'CONNECT', path: '' }, true],
    ['ports in', { ports: [80, 443] }, {}, true],
    ['ports out', { ports: [80] }, {}, false],
    [
      'requestHeaders match',
      { requestHeaders: [{ name: 'User-Agent', regex: 'curl' }] },
      { headers: { 'user-agent': 'curl/8.0' } },
      true,
    ],
    [
      'requestHeaders no match',
      { requestHeaders: [{ name: 'User-Agent', regex: 'curl' }] },
      { headers: { 'user-agent': 'Firefox' } },
      false,
    ],
    ['requestHeaders missing header', { requestHeaders: [{ name: 'User-Agent', regex: '.*' }] }, {}, false],
    [
      'requestHeaders multi-valued',
      { requestHeaders: [{ name: 'X-A', regex: '^a, b$' }] },
      { headers: { 'x-a': ['a', 'b'] } },
      true,
    ],
    [
      'requestHeaders all must match',
      {
        requestHeaders: [
          { name: 'X-A', regex: 'a' },
          { name: 'X-B', regex: 'b' },
        ],
      },
      { headers: { 'x-a': 'a', 'x-b': 'c' } },
      false,
    ],
    ['time inside (Kolkata 17:30 Mon)', { time: 'work' }, { time: new Date('2026-11-23T12:00:00Z') }, true],
    ['time after hours (Kolkata 18:00 Mon)', { time: 'work' }, { time: new Date('2026-11-23T12:30:00Z') }, false],
    ['time opens at from (Kolkata 09:00 Mon)', { time: 'work' }, { time: new Date('2026-11-23T03:30:00Z') }, true],
    ['time one minute early (Kolkata 08:59 Mon)', { time: 'work' }, { time: new Date('2026-11-23T03:29:00Z') }, false],
    // Sunday 20:00 UTC is already Monday 01:30 in Kolkata, but outside the hours; Friday 12:00 UTC is Friday 17:30 there.
    ['time weekday in zone, not in UTC', { time: 'work' }, { time: new Date('2026-11-27T12:00:00Z') }, true],
    // Saturday 03:30 UTC is Saturday 09:00 in Kolkata: not a work day.
    ['time weekend in zone', { time: 'work' }, { time: new Date('2026-11-28T03:30:00Z') }, false],
    // Sunday 23:45 UTC is Monday 05:15 in Kolkata — a work day, but before 09:00.
    ['time day boundary differs from UTC', { time: 'work' }, { time: new Date('2026-11-29T23:45:00Z') }, false],
    ['time crossing midnight, Mon 22:00', { time: 'night' }, { time: new Date('2026-11-23T22:00:00Z') }, true],
    ['time crossing midnight, Tue 05:59', { time: 'night' }, { time: new Date('2026-11-24T05:59:00Z') }, true],
    ['time crossing midnight, Tue 06:00', { time: 'night' }, { time: new Date('2026-11-24T06:00:00Z') }, false],
    [
      'time crossing midnight, Mon 05:00 (Sun night not listed)',
      { time: 'night' },
      { time: new Date('2026-11-23T05:00:00Z') },
      false,
    ],
    ['time crossing midnight, Tue 22:30', { time: 'night' }, { time: new Date('2026-11-24T22:30:00Z') }, false],
    // New York: 08:30 EDT = 12:30 UTC in summer, 08:30 EST = 13:30 UTC in winter.
    ['time DST summer', { time: 'ny-morning' }, { time: new Date('2026-07-01T12:30:00Z') }, true],
    ['time DST winter, same UTC time', { time: 'ny-morning' }, { time: new Date('2026-12-01T12:30:00Z') }, false],
    ['time DST winter', { time: 'ny-morning' }, { time: new Date('2026-12-01T13:30:00Z') }, true],
  ];
  test.each(rows)('%s', (_name, match, over, matches) => {
    const d = oneRule(match).evaluateRequest(req(over));
    expect(d.action).toBe(matches ? 'deny' : 'allow');
    expect(d.rule).toBe(matches ? 'r' : undefined);
  });

  test('responseMimeTypes: request time defers, response decides', () => {
    const policy = oneRule({ responseMimeTypes: ['application/x-msdownload', 'video/*'] });
    const r = req();
    const atRequest = policy.evaluateRequest(r);
    expect(atRequest).toMatchObject({ action: 'allow', needsResponse: true, rule: undefined });
    expect(policy.evaluateResponse(r, atRequest, { status: 200, mimeType: 'application/x-msdownload' })).toMatchObject({
      action: 'deny',
      rule: 'r',
      needsResponse: false,
    });
    expect(policy.evaluateResponse(r, atRequest, { status: 200, mimeType: 'Video/MP4; codecs=avc1' })).toMatchObject({
      action: 'deny',
    });
    expect(policy.evaluateResponse(r, atRequest, { status: 200, mimeType: 'text/html' })).toMatchObject({
      action: 'allow',
      rule: undefined,
    });
  });

  test('responseMimeTypes: no response needed when other conditions fail or an earlier rule decides', () => {
    const policy = compilePolicy([
      {
        name: 'p',
        spec: {
          rules: [
            { name: 'mime-for-x', action: 'deny', match: { domains: ['x.test'], responseMimeTypes: ['text/html'] } },
            { name: 'allow-y', action: 'allow', match: { domains: ['y.test'] } },
            { name: 'mime-any', action: 'deny', match: { responseMimeTypes: ['text/html'] } },
          ],
        },
      },
    ]);
    expect(policy.evaluateRequest(req({ host: 'y.test' }))).toMatchObject({ rule: 'allow-y', needsResponse: false });
    const d = policy.evaluateRequest(req({ host: 'z.test' }));
    expect(d).toMatchObject({ action: 'deny', rule: undefined, needsResponse: true });
    expect(policy.evaluateResponse(req({ host: 'z.test' }), d, { status: 200, mimeType: 'text/html' })).toMatchObject({
      rule: 'mime-any',
    });
    const unchanged = policy.evaluateRequest(req({ host: 'y.test' }));
    expect(policy.evaluateResponse(req({ host: 'y.test' }), unchanged, { status: 200, mimeType: 'text/html' })).toBe(
      unchanged,
    );
  });

  test('catastrophic-backtracking patterns run in linear time under RE2', () => {
    const policy = oneRule({ urlRegex: '^/(a+)+$' });
    const started = process.hrtime.bigint();
    const d = policy.evaluateRequest(req({ path: '/' + 'a'.repeat(50_000) + '!' }));
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    expect(d.action).toBe('allow');
    // Native backtracking would take longer than the universe's age on this input.
    expect(ms).toBeLessThan(1000);
  });
});

describe('actions and modes', () => {
  const policy = compilePolicy([
    {
      name: 'p',
      spec: {
        rules: [
          { name: 'would-block', action: 'deny', mode: 'report', match: { domains: ['shop.test'] } },
          {
            name: 'would-redirect',
            action: 'redirect',
            mode: 'report',
            redirectTo: 'https://x.test/',
            match: { domains: ['shop.test'] },
          },
          { name: 'deny-ads', action: 'deny', message: 'Ads are blocked', match: { domains: ['*.ads.test'] } },
          { name: 'move', action: 'redirect', redirectTo: 'https://new.test/', match: { domains: ['old.test'] } },
          { name: 'allow-shop', action: 'allow', match: { domains: ['shop.test'] } },
        ],
      },
    },
  ]);

  test('deny carries its message', () => {
    expect(policy.evaluateRequest(req({ host: 'x.ads.test' }))).toEqual({
      action: 'deny',
      mode: 'enforce',
      rule: 'deny-ads',
      policySet: 'p',
      category: undefined,
      message: 'Ads are blocked',
      redirectTo: undefined,
      reported: [],
      reason: 'rule "deny-ads" of PolicySet "p" matched',
      needsResponse: false,
    });
  });

  test('redirect carries its URL', () => {
    expect(policy.evaluateRequest(req({ host: 'old.test' }))).toMatchObject({
      action: 'redirect',
      redirectTo: 'https://new.test/',
      rule: 'move',
    });
  });

  test('report-mode rules are recorded and do not decide', () => {
    expect(policy.evaluateRequest(req({ host: 'shop.test' }))).toMatchObject({
      action: 'allow',
      rule: 'allow-shop',
      reported: [
        { rule: 'would-block', policySet: 'p', action: 'deny' },
        { rule: 'would-redirect', policySet: 'p', action: 'redirect' },
      ],
    });
  });

  test('no rule matches: default action deny, with the reason', () => {
    expect(policy.evaluateRequest(req({ host: 'other.test' }))).toMatchObject({
      action: 'deny',
      rule: undefined,
      reason: 'no rule matched; default action deny',
    });
  });
});

describe('precedence', () => {
  const spec = (priority: number | undefined, action: 'allow' | 'deny'): PolicySetSpec => ({
    ...(priority === undefined ? {} : { priority }),
    rules: [{ name: `${action}-all`, action, match: { domains: ['.test'] } }],
  });

  test.each([
    [
      'lower priority first',
      [
        { name: 'a', spec: spec(200, 'deny') },
        { name: 'b', spec: spec(10, 'allow') },
      ],
      'b',
    ],
    [
      'ties broken by name',
      [
        { name: 'zeta', spec: spec(5, 'deny') },
        { name: 'alpha', spec: spec(5, 'allow') },
      ],
      'alpha',
    ],
    [
      'missing priority is 100',
      [
        { name: 'a', spec: spec(undefined, 'deny') },
        { name: 'b', spec: spec(99, 'allow') },
      ],
      'b',
    ],
    [
      'negative priorities',
      [
        { name: 'a', spec: spec(0, 'deny') },
        { name: 'b', spec: spec(-1, 'allow') },
      ],
      'b',
    ],
  ])('%s', (_n, sets, winner) => {
    expect(compilePolicy(sets).evaluateRequest(req({ host: 'x.test' })).policySet).toBe(winner);
  });

  test('first matching rule wins within a PolicySet, by rule order', () => {
    const p = compilePolicy([
      {
        name: 'p',
        spec: {
          rules: [
            { name: 'catch-all-deny', action: 'deny', match: { methods: ['POST'] } },
            { name: 'by-domain', action: 'allow', match: { domains: ['x.test'] } },
            { name: 'catch-all-allow', action: 'allow' },
          ],
        },
      },
    ]);
    expect(p.evaluateRequest(req({ host: 'x.test', method: 'POST' })).rule).toBe('catch-all-deny');
    expect(p.evaluateRequest(req({ host: 'x.test' })).rule).toBe('by-domain');
    expect(p.evaluateRequest(req({ host: 'y.test' })).rule).toBe('catch-all-allow');
  });

  test('the lowest-priority PolicySet that sets the access restriction wins', () => {
    const p = compilePolicy([
      {
        name: 'a',
        spec: { priority: 50, accessRestriction: { defaultAction: 'allow', allowedClients: ['10.0.0.0/8'] } },
      },
      {
        name: 'b',
        spec: {
          priority: 10,
          accessRestriction: { connectPorts: [443, 8443], ssrf: { allowRanges: ['10.5.0.0/16'] } },
        },
      },
      { name: 'c', spec: { priority: 1 } },
    ]);
    expect(p.bundle.accessRestriction).toEqual({
      defaultAction: 'deny',
      allowedClients: [],
      connectPorts: [443, 8443],
      ssrf: { allowRanges: ['10.5.0.0/16'] },
      policySet: 'b',
    });
    expect(p.accessRestriction.isClientAllowed('203.0.113.1')).toBe(false);
    expect(p.accessRestriction.isClientAllowed('10.1.1.1')).toBe(true);
    expect(p.accessRestriction.isSsrfAllowed('10.5.1.1')).toBe(true);
    expect(p.accessRestriction.isSsrfAllowed('10.6.1.1')).toBe(false);
    expect(p.evaluateRequest(req()).action).toBe('deny');
  });

  test('defaults when no PolicySet sets the access restriction', () => {
    const p = compilePolicy([{ name: 'a', spec: {} }]);
    expect(p.bundle.accessRestriction).toEqual({
      defaultAction: 'deny',
      allowedClients: [],
      connectPorts: [443],
      ssrf: { allowRanges: [] },
    });
  });

  describe('without allowedClients: loopback and private ranges only (not an open proxy)', () => {
    const local = compilePolicy([{ name: 'a', spec: {} }]).accessRestriction;
    const emptyList = compilePolicy([
      { name: 'a', spec: { accessRestriction: { allowedClients: [] } } },
    ]).accessRestriction;
    it.each([
      ['127.0.0.1', true],
      ['127.255.1.2', true],
      ['::1', true],
      ['::ffff:127.0.0.1', true],
      ['10.1.2.3', true],
      ['172.16.0.1', true],
      ['172.31.255.254', true],
      ['192.168.0.9', true],
      ['::ffff:192.168.0.9', true],
      ['fc00::1', true],
      ['fd12:3456::1', true],
      // RFC 6598 shared address space: carrier-grade NAT and some pod networks
      ['100.64.0.1', true],
      ['100.127.255.254', true],
      ['100.128.0.1', false],
      // link-local is not a client range
      ['169.254.169.254', false],
      ['fe80::1', false],
      ['8.8.8.8', false],
      ['172.32.0.1', false],
      ['203.0.113.1', false],
      ['2001:db8::1', false],
      ['2606:4700::1111', false],
      ['::ffff:8.8.8.8', false],
    ])('%s: %s', (ip, allowed) => {
      expect(local.isClientAllowed(ip)).toBe(allowed);
      expect(emptyList.isClientAllowed(ip)).toBe(allowed);
    });

    it('says so, and keeps the bundle (and its hash) as the policy wrote it', () => {
      expect(local.localClientsOnly).toBe(true);
      expect(local.servedClients).toContain('192.168.0.0/16');
      expect(compilePolicy([{ name: 'a', spec: {} }]).bundle.accessRestriction.allowedClients).toEqual([]);
    });

    it('serves everyone only when the policy says 0.0.0.0/0 and ::/0', () => {
      const open = compilePolicy([
        { name: 'a', spec: { accessRestriction: { allowedClients: ['0.0.0.0/0', '::/0'] } } },
      ]).accessRestriction;
      for (const ip of ['8.8.8.8', '2001:db8::1', '169.254.1.1', '::ffff:8.8.8.8'])
        expect(open.isClientAllowed(ip)).toBe(true);
      expect(open.localClientsOnly).toBe(false);
      const v4Only = compilePolicy([
        { name: 'a', spec: { accessRestriction: { allowedClients: ['0.0.0.0/0'] } } },
      ]).accessRestriction;
      expect(v4Only.isClientAllowed('8.8.8.8')).toBe(true);
      expect(v4Only.isClientAllowed('2001:db8::1')).toBe(false);
    });
  });

  test('httpTunnelPorts: [80] unless the policy says otherwise, and only in the bundle when set', () => {
    const plain = compilePolicy([{ name: 'a', spec: {} }]);
    expect(plain.accessRestriction.httpTunnelPorts).toEqual([80]);
    expect(plain.bundle.accessRestriction).not.toHaveProperty('httpTunnelPorts');
    const set = compilePolicy([
      { name: 'a', spec: { accessRestriction: { connectPorts: [443, 8080], httpTunnelPorts: [8080] } } },
    ]);
    expect(set.accessRestriction.httpTunnelPorts).toEqual([8080]);
    expect(set.bundle.accessRestriction.httpTunnelPorts).toEqual([8080]);
  });

  test('allowedClients restricts, IPv4-mapped and IPv6 included', () => {
    const p = compilePolicy([
      { name: 'a', spec: { accessRestriction: { allowedClients: ['10.0.0.0/8', 'fd00::/8'] } } },
    ]);
    expect(p.accessRestriction.isClientAllowed('10.1.1.1')).toBe(true);
    expect(p.accessRestriction.isClientAllowed('::ffff:10.1.1.1')).toBe(true);
    expect(p.accessRestriction.isClientAllowed('fd12::1')).toBe(true);
    expect(p.accessRestriction.isClientAllowed('192.168.1.1')).toBe(false);
  });
});

describe('categories', () => {
  test('decision.category is the first category in bundle order, also when no rule used it', () => {
    const p = compilePolicy([
      { name: 'b', spec: { priority: 2, categories: [{ name: 'later', domains: ['x.test'] }] } },
      {
        name: 'a',
        spec: {
          priority: 1,
          categories: [{ name: 'earlier', domains: ['.x.test'] }],
          rules: [{ name: 'ok', action: 'allow' }],
        },
      },
    ]);
    expect(p.evaluateRequest(req({ host: 'x.test' }))).toMatchObject({ rule: 'ok', category: 'earlier' });
    expect(p.categoriesOf('x.test')).toEqual(['earlier', 'later']);
    expect(p.evaluateRequest(req({ host: 'y.test' })).category).toBeUndefined();
  });

  test('a rule may use a category defined in another PolicySet', () => {
    const p = compilePolicy([
      { name: 'lists', spec: { categories: [{ name: 'games', domains: ['*.games.test'] }] } },
      {
        name: 'rules',
        spec: {
          rules: [{ name: 'no-games', action: 'deny', match: { categories: ['games'] } }],
          accessRestriction: { defaultAction: 'allow' },
        },
      },
    ]);
    expect(p.evaluateRequest(req({ host: 'a.games.test' })).rule).toBe('no-games');
    expect(p.evaluateRequest(req({ host: 'games.test' })).action).toBe('allow');
  });
});

describe('header rules', () => {
  const p = compilePolicy([
    {
      name: 'p',
      spec: {
        headerRules: [
          {
            name: 'safesearch',
            match: { domains: ['.google.com'] },
            request: { set: { 'Cookie-Extra': 'SS=1' }, remove: ['X-Debug'] },
          },
          { name: 'everyone', request: { add: { Via: 'safesquid' } }, response: { remove: ['Server'] } },
          {
            name: 'staff-only',
            match: { users: ['alice'] },
            request: { set: { 'X-Staff': 'yes' }, add: { Via: 'staff' } },
          },
          { name: 'undo-debug', match: { domains: ['www.google.com'] }, request: { set: { 'x-debug': 'kept' } } },
        ],
      },
    },
  ]);

  test('every matching header rule applies, later ones override', () => {
    expect(p.requestHeaderEdits(req({ host: 'WWW.google.com', user: 'alice' }))).toEqual({
      set: { 'cookie-extra': 'SS=1', 'x-staff': 'yes', 'x-debug': 'kept' },
      add: { via: 'staff' },
      remove: [],
    });
    expect(p.requestHeaderEdits(req({ host: 'maps.google.com' }))).toEqual({
      set: { 'cookie-extra': 'SS=1' },
      add: { via: 'safesquid' },
      remove: ['x-debug'],
    });
  });

  test('response edits come only from rules that have them', () => {
    expect(p.responseHeaderEdits(req())).toEqual({ set: {}, add: {}, remove: ['server'] });
  });

  test('no header rules: undefined', () => {
    expect(compilePolicy([{ name: 'q', spec: {} }]).requestHeaderEdits(req())).toBeUndefined();
  });
});

describe('index', () => {
  test('rules for other hosts and other categories are never checked', () => {
    const rules: RuleSpec[] = [];
    for (let i = 0; i < 2000; i++) {
      rules.push({ name: `d${i}`, action: 'deny', match: { domains: [`site${i}.test`], urlRegex: '^/never' } });
      rules.push({ name: `c${i}`, action: 'deny', match: { categories: [`cat${i}`], urlRegex: '^/never' } });
    }
    rules.push({ name: 'fallback', action: 'allow', match: { urlRegex: '^/' } });
    const categories = Array.from({ length: 2000 }, (_, i) => ({ name: `cat${i}`, domains: [`*.c${i}.test`] }));
    const p = compilePolicy([{ name: 'big', spec: { categories, rules } }]);
    let checks = 0;
    for (const rule of p.rules) {
      const re = rule.match.urlRegex!;
      const test = re.test;
      (re as { test: (s: string) => boolean }).test = (s: string) => (checks++, test(s));
    }
    expect(p.evaluateRequest(req({ host: 'site1234.test' })).rule).toBe('fallback');
    expect(checks).toBe(2); // d1234, then the fallback
    checks = 0;
    expect(p.evaluateRequest(req({ host: 'www.c77.test' }))).toMatchObject({ rule: 'fallback', category: 'cat77' });
    expect(checks).toBe(2); // c77, then the fallback
    checks = 0;
    expect(p.evaluateRequest(req({ host: 'elsewhere.test' })).rule).toBe('fallback');
    expect(checks).toBe(1);
  });
});

describe('state kept between calls', () => {
  test('the per-minute zone cache follows the clock, forwards and backwards', () => {
    const p = oneRule({ time: 'work' });
    const at = (iso: string) => p.evaluateRequest(req({ time: new Date(iso) })).action;
    expect(at('2026-11-23T03:29:59Z')).toBe('allow'); // 08:59 Kolkata
    expect(at('2026-11-23T03:30:00Z')).toBe('deny'); // 09:00
    expect(at('2026-11-23T03:29:00Z')).toBe('allow');
    expect(at('2026-11-23T12:29:59Z')).toBe('deny'); // 17:59
    expect(at('2026-11-23T12:30:00Z')).toBe('allow'); // 18:00
    expect(at('2026-11-28T06:00:00Z')).toBe('allow'); // Saturday
  });

  test('requests for different hosts, users and clients in turn do not leak into each other', () => {
    const p = compilePolicy([
      {
        name: 'p',
        spec: {
          ...base,
          rules: [
            { name: 'social-staff', action: 'deny', match: { categories: ['social'], groups: ['staff'] } },
            {
              name: 'v6-only',
              action: 'redirect',
              redirectTo: 'https://v6.test/',
              match: { sources: ['2001:db8::/32'] },
            },
            { name: 'rest', action: 'allow' },
          ],
          headerRules: [{ name: 'fb', match: { domains: ['facebook.com'] }, request: { set: { 'X-FB': '1' } } }],
        },
      },
    ]);
    const fb = req({ host: 'facebook.com', user: 'alice' });
    const other = req({ host: 'example.org', user: 'dave', clientIp: '2001:db8::1' });
    for (let i = 0; i < 3; i++) {
      expect(p.evaluateRequest(fb).rule).toBe('social-staff');
      expect(p.requestHeaderEdits(other)).toBeUndefined();
      expect(p.evaluateRequest(other)).toMatchObject({ rule: 'v6-only', category: 'mixed' });
      expect(p.requestHeaderEdits(fb)?.set).toEqual({ 'x-fb': '1' });
      expect(p.evaluateRequest({ ...fb, user: 'dave' })).toMatchObject({ rule: 'rest', category: 'social' });
      expect(p.evaluateRequest({ ...other, clientIp: '10.0.0.1' }).rule).toBe('rest');
    }
  });

  test('a report-mode MIME rule is recorded when the response arrives', () => {
    const p = compilePolicy([
      {
        name: 'p',
        spec: {
          rules: [
            { name: 'audit-video', action: 'deny', mode: 'report', match: { responseMimeTypes: ['video/*'] } },
            { name: 'ok', action: 'allow' },
          ],
        },
      },
    ]);
    const r = req();
    const d = p.evaluateRequest(r);
    expect(d).toMatchObject({ rule: 'ok', needsResponse: true, reported: [] });
    expect(p.evaluateResponse(r, d, { status: 200, mimeType: 'video/webm' })).toMatchObject({
      rule: 'ok',
      needsResponse: false,
      reported: [{ rule: 'audit-video', policySet: 'p', action: 'deny' }],
    });
  });
});
