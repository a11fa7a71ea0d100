import { parseIp } from '../policy/cidr.js';
import { blockedReason, SsrfGuard, type Resolver } from './ssrf-guard.js';

const reason = (ip: string): string | undefined => blockedReason(parseIp(ip)!);

describe('blockedReason', () => {
  it.each([
    ['127.0.0.1', /loopback/],
    ['127.255.0.9', /loopback/],
    ['::1', /loopback/],
    ['169.254.169.254', /link-local.*metadata/],
    ['fe80::1', /link-local/],
    ['10.1.2.3', /private/],
    ['172.16.0.1', /private/],
    ['172.31.255.255', /private/],
    ['192.168.1.1', /private/],
    ['fd00::1', /private/],
    ['100.64.0.1', /carrier-grade NAT/],
    ['100.127.255.254', /carrier-grade NAT/],
    ['224.0.0.1', /multicast/],
    ['ff02::1', /multicast/],
    ['0.0.0.0', /unspecified/],
    ['::', /unspecified/],
    ['255.255.255.255', /reserved/],
    ['::ffff:127.0.0.1', /loopback/],
    ['::ffff:169.254.169.254', /link-local/],
    ['::127.0.0.1', /IPv4-compatible/],
    ['64:ff9b::7f00:1', /NAT64 form of a loopback address \(127\.0\.0\.1\)/],
    ['64:ff9b::a9fe:a9fe', /NAT64 form of a link-local/],
    ['2002:7f00:1::', /6to4 form of a loopback/],
    ['2002:a00:1::1', /6to4 form of a private/],
    // Teredo stores the client address inverted: ~127.0.0.1 = 80ff:fffe.
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', /Teredo form of a loopback/],
    // IPv4-mapped ::ffff:0:0/96, in every spelling
    ['::ffff:7f00:1', /^loopback/],
    ['0:0:0:0:0:ffff:a00:1', /^private/],
    // IPv4-compatible ::/96 (deprecated): refused whatever the IPv4 address
    ['::8.8.8.8', /IPv4-compatible/],
    ['::a00:1', /IPv4-compatible/],
    // SIIT IPv4-translated ::ffff:0:0:0/96
    ['::ffff:0:7f00:1', /SIIT form of a loopback address \(127\.0\.0\.1\)/],
    ['::ffff:0:a9fe:a9fe', /SIIT form of a link-local/],
    ['::ffff:0:10.0.0.1', /SIIT form of a private/],
    // NAT64 64:ff9b::/96 (well-known) and 64:ff9b:1::/48 (local use) at every RFC 6052 position
    ['64:ff9b::127.0.0.1', /NAT64 form of a loopback/],
    ['64:ff9b:1::7f00:1', /local-use NAT64 \(\/96\) form of a loopback/],
    ['64:ff9b:1:7f00:0:100::', /local-use NAT64 \(\/48\) form of a loopback/],
    ['64:ff9b:1:7f:0:1::', /local-use NAT64 \(\/56\) form of a loopback/],
    ['64:ff9b:1:0:7f:0:100:0', /local-use NAT64 \(\/64\) form of a loopback/],
    ['64:ff9b:1:0:a9:fea9:fe00:0', /local-use NAT64 \(\/64\) form of a link-local/],
    // 6to4 2002::/16 and Teredo 2001::/32
    ['2002:a9fe:a9fe::1', /6to4 form of a link-local/],
    ['2001:0:4136:e378:8000:63bf:f5ff:fffe', /Teredo form of a private address \(10\.0\.0\.1\)/],
    // ISATAP interface ids under any prefix
    ['2001:db8::5efe:7f00:1', /ISATAP form of a loopback/],
    ['2001:db8::200:5efe:a00:1', /ISATAP form of a private/],
  ])('refuses %s', (ip, why) => {
    expect(reason(ip)).toMatch(why);
  });

  it.each([
    '93.184.216.34',
    '8.8.8.8',
    '172.32.0.1',
    '100.128.0.1',
    '2606:4700::1111',
    '64:ff9b::808:808',
    '2002:808:808::1',
    // the embedding forms around a public IPv4 address (8.8.8.8)
    '::ffff:0:808:808',
    '64:ff9b:1::808:808',
    '64:ff9b:1:808:8:800::',
    '2001:0:4136:e378:8000:63bf:f7f7:f7f7',
    '2001:db8::5efe:808:808',
  ])('lets the public address %s through', (ip) => {
    expect(reason(ip)).toBeUndefined();
  });
});

describe('SsrfGuard.check', () => {
  // The resolver is the seam under test: it stands for DNS answers, nothing is dialled here.
  const answers: Record<string, string[]> = {
    'metadata.test': ['169.254.169.254'],
    'mixed.test': ['93.184.216.34', '10.0.0.5'],
    'public.test': ['2606:4700::1111', '93.184.216.34'],
    'loop.test': ['127.0.0.1'],
  };
  const resolver: Resolver = async (host) => {
    const list = answers[host];
    if (!list) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  const guard = new SsrfGuard({ ownEndpoints: () => [{ address: '0.0.0.0', port: 3128 }], resolver });
  const none = { isSsrfAllowed: (): boolean => false };

  it('refuses a name whose answer is internal, naming the address', async () => {
    expect(await guard.check('metadata.test', 80, none)).toEqual({
      ok: false,
      status: 403,
      reason: expect.stringMatching(/169\.254\.169\.254, a link-local/),
    });
  });

  it('refuses when any one of several answers is internal', async () => {
    expect(await guard.check('mixed.test', 80, none)).toMatchObject({
      ok: false,
      status: 403,
      reason: expect.stringMatching(/10\.0\.0\.5/),
    });
  });

  it('returns the checked address to dial, IPv4 first', async () => {
    expect(await guard.check('public.test', 443, none)).toEqual({ ok: true, address: '93.184.216.34', family: 4 });
  });

  it('hands out another checked address after a dial failure, and the first again when all failed', async () => {
    const g = new SsrfGuard({
      ownEndpoints: () => [],
      resolver: async () =>
        ['93.184.216.34', '93.184.216.35', '2606:4700::1111'].map((address) => ({
          address,
          family: address.includes(':') ? 6 : 4,
        })),
    });
    expect(await g.check('multi.test', 80, none)).toMatchObject({ address: '93.184.216.34' });
    // A reset after connecting says nothing about reachability.
    expect(g.dialFailed('93.184.216.34', 'ECONNRESET')).toBe(false);
    expect(await g.check('multi.test', 80, none)).toMatchObject({ address: '93.184.216.34' });
    expect(g.dialFailed('93.184.216.34', 'ECONNREFUSED')).toBe(true);
    expect(await g.check('multi.test', 80, none)).toMatchObject({ address: '93.184.216.35' });
    g.dialFailed('93.184.216.35', 'EHOSTUNREACH');
    expect(await g.check('multi.test', 80, none)).toMatchObject({ address: '2606:4700::1111', family: 6 });
    g.dialFailed('2606:4700::1111', 'ETIMEDOUT');
    expect(await g.check('multi.test', 80, none)).toMatchObject({ address: '93.184.216.34' });
  });

  it('opens ranges the policy allows, but never the proxy itself', async () => {
    const allowLoopback = { isSsrfAllowed: (ip: string): boolean => ip.startsWith('127.') };
    expect(await guard.check('loop.test', 8080, allowLoopback)).toEqual({ ok: true, address: '127.0.0.1', family: 4 });
    expect(await guard.check('loop.test', 3128, allowLoopback)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/the proxy itself/),
    });
    expect(await guard.check('127.0.0.7', 3128, allowLoopback)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/the proxy itself/),
    });
  });

  it('answers 502 for names that do not resolve', async () => {
    expect(await guard.check('nowhere.test', 80, none)).toMatchObject({
      ok: false,
      status: 502,
      reason: expect.stringMatching(/ENOTFOUND/),
    });
  });

  it('judges a remembered literal or name again for each policy and port', async () => {
    const allowLoopback = { isSsrfAllowed: (ip: string): boolean => ip.startsWith('127.') };
    for (const host of ['127.0.0.1', 'loop.test']) {
      expect(await guard.check(host, 8080, allowLoopback)).toEqual({ ok: true, address: '127.0.0.1', family: 4 });
      expect(await guard.check(host, 8080, none)).toMatchObject({
        ok: false,
        status: 403,
        reason: expect.stringMatching(/loopback/),
      });
      expect(await guard.check(host, 3128, allowLoopback)).toMatchObject({
        ok: false,
        reason: expect.stringMatching(/the proxy itself/),
      });
      expect(await guard.check(host, 8081, allowLoopback)).toEqual({ ok: true, address: '127.0.0.1', family: 4 });
    }
  });

  it('checks IP literals without resolving them', async () => {
    expect(await guard.check('::ffff:a9fe:a9fe', 80, none)).toMatchObject({ ok: false, status: 403 });
  });
});
