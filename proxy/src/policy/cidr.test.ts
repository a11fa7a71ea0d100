import { CidrParseError, CidrSet, normalizeIp, parseCidr, parseIp } from './cidr.js';

describe('parseIp / normalizeIp', () => {
  test.each([
    ['10.0.0.1', '10.0.0.1'],
    ['::ffff:10.0.0.1', '10.0.0.1'],
    ['::ffff:a00:1', '10.0.0.1'],
    ['[::1]', '::1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['2001:db8:0:1:0:0:0:0', '2001:db8:0:1::'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['64:ff9b::1.2.3.4', '64:ff9b::102:304'],
  ])('%s → %s', (input, expected) => {
    expect(normalizeIp(input)).toBe(expected);
  });

  test.each([
    '',
    'example.com',
    '10.0.0',
    '10.0.0.256',
    ':::1',
    '10.0.0.1/8',
    '010.0.0.1',
    '1.2.3.4.5',
    '1..2.3',
    '1.2.3.',
    '.1.2.3',
    '1.2.3.-4',
  ])('%p is not an IP', (input) => {
    expect(parseIp(input)).toBeUndefined();
  });

  test('the IPv4 fast path agrees with node:net on edge values', () => {
    for (const ip of ['0.0.0.0', '255.255.255.255', '1.2.3.4', '10.0.0.1', '199.99.9.0']) {
      const [a, b, c, d] = ip.split('.').map(Number);
      expect(parseIp(ip)).toEqual({ version: 4, value: ((a * 256 + b) * 256 + c) * 256 + d });
    }
  });
});

describe('parseCidr', () => {
  test('masks host bits and accepts bare addresses', () => {
    expect(parseCidr('10.1.2.3/8')).toEqual({ version: 4, first: 0x0a000000n, last: 0x0affffffn });
    expect(parseCidr('192.168.1.1')).toEqual({ version: 4, first: 0xc0a80101n, last: 0xc0a80101n });
    expect(parseCidr('::/0')).toEqual({ version: 6, first: 0n, last: (1n << 128n) - 1n });
  });

  test.each([
    ['10.0.0.0/33', 'prefix length must be an integer from 0 to 32'],
    ['::/129', 'prefix length must be an integer from 0 to 128'],
    ['10.0.0.0/', 'prefix length'],
    ['10.0.0.0/-1', 'prefix length'],
    ['10.0.0.0/8x', 'prefix length'],
    ['300.0.0.0/8', 'is not an IPv4 or IPv6 address'],
    ['example.com/8', 'is not an IPv4 or IPv6 address'],
    ['fe80::1%eth0/64', 'zone ids'],
  ])('%s is rejected: %s', (input, reason) => {
    expect(() => parseCidr(input)).toThrow(CidrParseError);
    expect(() => parseCidr(input)).toThrow(
      new RegExp(`invalid CIDR "${input.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}": .*${reason}`),
    );
  });
});

describe('CidrSet', () => {
  const set = new CidrSet(['10.0.0.0/8', '192.168.1.0/24', '2001:db8::/32', '::1', '172.16.0.0/12', '10.5.0.0/16']);

  test.each([
    ['10.0.0.0', true],
    ['10.255.255.255', true],
    ['11.0.0.0', false],
    ['9.255.255.255', false],
    ['192.168.1.77', true],
    ['192.168.2.1', false],
    ['172.31.255.255', true],
    ['172.32.0.0', false],
    ['::ffff:10.1.1.1', true],
    ['::ffff:11.1.1.1', false],
    ['2001:db8:ffff::1', true],
    ['2001:db9::1', false],
    ['::1', true],
    ['[::1]', true],
    ['::2', false],
    ['not-an-ip', false],
    ['', false],
  ])('has(%s) = %s', (ip, expected) => {
    expect(set.has(ip)).toBe(expected);
  });

  test('an empty set holds nothing', () => {
    expect(new CidrSet([]).has('10.0.0.1')).toBe(false);
  });

  test('IPv4-mapped IPv6 ranges match plain IPv4 addresses', () => {
    const mapped = new CidrSet(['::ffff:10.0.0.0/104']);
    expect(mapped.has('10.9.9.9')).toBe(true);
    expect(mapped.has('11.0.0.1')).toBe(false);
    const all = new CidrSet(['::/0']);
    expect(all.has('8.8.8.8')).toBe(true);
    expect(all.has('2001:db8::1')).toBe(true);
    expect(new CidrSet(['0.0.0.0/0']).has('2001:db8::1')).toBe(false);
  });

  test('merges adjacent ranges without losing any', () => {
    const s = new CidrSet(['10.0.0.0/25', '10.0.0.128/25', '10.0.2.0/24']);
    expect(s.has('10.0.0.127')).toBe(true);
    expect(s.has('10.0.0.128')).toBe(true);
    expect(s.has('10.0.1.1')).toBe(false);
    expect(s.has('10.0.2.200')).toBe(true);
  });

  test('the error names the bad value', () => {
    expect(() => new CidrSet(['10.0.0.0/8', '10.0.0.0/40'])).toThrow('invalid CIDR "10.0.0.0/40"');
  });
});
