import { CidrSet } from '../policy/cidr.js';
import { resolveClientAddress } from './access-control.js';

describe('resolveClientAddress', () => {
  const ingress = new CidrSet(['10.0.0.5/32', '10.0.1.0/24']);
  const cases: [string, string, string | string[] | undefined, CidrSet | undefined, string][] = [
    ['no trusted proxies: the header is ignored', '10.0.0.5', '192.0.2.1', undefined, '10.0.0.5'],
    ['an untrusted peer cannot name a client', '10.9.9.9', '192.0.2.1', ingress, '10.9.9.9'],
    ['a trusted peer without the header', '10.0.0.5', undefined, ingress, '10.0.0.5'],
    ['one hop', '10.0.0.5', '192.0.2.1', ingress, '192.0.2.1'],
    [
      'the right-most untrusted hop, not what the client claimed before it',
      '10.0.0.5',
      '203.0.113.66, 192.0.2.1',
      ingress,
      '192.0.2.1',
    ],
    ['trusted hops in a chain are skipped', '10.0.0.5', '192.0.2.1, 10.0.1.7', ingress, '192.0.2.1'],
    ['every hop trusted: the left-most', '10.0.0.5', '10.0.1.8, 10.0.1.7', ingress, '10.0.1.8'],
    [
      'a malformed entry stops at the last trusted hop',
      '10.0.0.5',
      '192.0.2.1, not-an-ip, 10.0.1.7',
      ingress,
      '10.0.1.7',
    ],
    ['a malformed right-most entry: the peer', '10.0.0.5', 'garbage', ingress, '10.0.0.5'],
    ['several headers are one list', '10.0.0.5', ['203.0.113.66', '192.0.2.1'], ingress, '192.0.2.1'],
    ['IPv4-mapped and IPv6 hops are normalised', '10.0.0.5', '2001:DB8::1, ::ffff:10.0.1.9', ingress, '2001:db8::1'],
    ['empty entries are passed over', '10.0.0.5', '192.0.2.1, , ', ingress, '192.0.2.1'],
  ];
  it.each(cases)('%s', (_name, peer, header, trusted, want) => {
    expect(resolveClientAddress(peer, header, trusted)).toBe(want);
  });
});
