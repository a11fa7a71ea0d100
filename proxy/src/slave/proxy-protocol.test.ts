import { parseProxyHeader, type ProxyHeader } from './proxy-protocol.js';

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A v2 header: version/command byte, family byte, then the payload (addresses and TLVs). */
function v2(verCmd: number, family: number, payload: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(payload.length);
  return Buffer.concat([SIG, Buffer.from([verCmd, family]), len, payload]);
}
const ipv4Payload = Buffer.from([192, 0, 2, 7, 10, 0, 0, 1, 0x30, 0x39, 0x0c, 0x38]);
const ipv6 = (text: string) => {
  const groups = text.split(':').map((g) => parseInt(g, 16));
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(g, i * 2));
  return b;
};
const ipv6Payload = Buffer.concat([
  ipv6('2001:db8:0:0:0:0:0:5'),
  ipv6('2001:db8:0:0:0:0:0:1'),
  Buffer.from([0x30, 0x39, 0x0c, 0x38]),
]);
const mappedPayload = Buffer.concat([
  ipv6('0:0:0:0:0:ffff:c000:207'),
  ipv6('0:0:0:0:0:ffff:a00:1'),
  Buffer.from([0, 1, 0, 2]),
]);
const tlv = Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63]);

const header = (length: number, source: string | undefined): ProxyHeader => ({ kind: 'header', length, source });
const v1 = (line: string) => Buffer.from(line, 'latin1');

describe('parseProxyHeader', () => {
  const cases: [string, Buffer, ProxyHeader | RegExp][] = [
    ['v1 TCP4', v1('PROXY TCP4 192.0.2.7 10.0.0.1 12345 3128\r\nGET'), header(42, '192.0.2.7')],
    ['v1 TCP6', v1('PROXY TCP6 2001:db8::5 2001:db8::1 12345 3128\r\n'), header(47, '2001:db8::5')],
    ['v1 TCP6 of an IPv4 client', v1('PROXY TCP6 ::ffff:192.0.2.7 ::1 1 2\r\n'), header(37, '192.0.2.7')],
    ['v1 UNKNOWN', v1('PROXY UNKNOWN\r\n'), header(15, undefined)],
    ['v1 UNKNOWN with addresses', v1('PROXY UNKNOWN ff::1 ff::2 1 2\r\n'), header(31, undefined)],
    ['v1 missing CR', v1('PROXY TCP4 192.0.2.7 10.0.0.1 1 2\n'), /must end in CRLF/],
    ['v1 bad family', v1('PROXY UDP4 192.0.2.7 10.0.0.1 1 2\r\n'), /family "UDP4"/],
    ['v1 too few fields', v1('PROXY TCP4 192.0.2.7 10.0.0.1 1\r\n'), /6 fields, this one 5/],
    ['v1 not an address', v1('PROXY TCP4 192.0.2.300 10.0.0.1 1 2\r\n'), /source address "192.0.2.300"/],
    ['v1 IPv6 in TCP4', v1('PROXY TCP4 2001:db8::5 10.0.0.1 1 2\r\n'), /not an IPv4 address/],
    ['v1 port out of range', v1('PROXY TCP4 192.0.2.7 10.0.0.1 65536 2\r\n'), /port "65536"/],
    ['v1 port with a sign', v1('PROXY TCP4 192.0.2.7 10.0.0.1 +1 2\r\n'), /port "\+1"/],
    ['v1 without CRLF for 107 bytes', v1(`PROXY TCP4 ${'1'.repeat(120)}`), /no CRLF within 107 bytes/],
    ['v2 PROXY IPv4', Buffer.concat([v2(0x21, 0x11, ipv4Payload), v1('GET')]), header(28, '192.0.2.7')],
    ['v2 PROXY IPv4 with a TLV', v2(0x21, 0x11, Buffer.concat([ipv4Payload, tlv])), header(34, '192.0.2.7')],
    ['v2 PROXY IPv6', v2(0x21, 0x21, ipv6Payload), header(52, '2001:db8::5')],
    ['v2 PROXY IPv4-mapped IPv6', v2(0x21, 0x21, mappedPayload), header(52, '192.0.2.7')],
    ['v2 LOCAL (a health check)', v2(0x20, 0x00, Buffer.alloc(0)), header(16, undefined)],
    ['v2 PROXY over AF_UNIX', v2(0x21, 0x31, Buffer.alloc(216)), header(232, undefined)],
    ['v2 short IPv4 addresses', v2(0x21, 0x11, Buffer.alloc(8)), /needs 12 bytes/],
    ['v2 short IPv6 addresses', v2(0x21, 0x21, Buffer.alloc(12)), /needs 36 bytes/],
    ['v2 version 1', v2(0x11, 0x11, ipv4Payload), /v2 version 1/],
    ['v2 unknown command', v2(0x22, 0x11, ipv4Payload), /command 2/],
    ['v2 payload too large', Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0xff, 0xff])]), /65535 bytes/],
    ['plain HTTP', v1('GET http://example.com/ HTTP/1.1\r\n\r\n'), /does not start with a PROXY protocol header/],
    ['TLS', Buffer.from([0x16, 0x03, 0x01, 0x00]), /does not start with a PROXY protocol header/],
  ];
  it.each(cases)('%s', (_name, buf, want) => {
    const got = parseProxyHeader(buf);
    if (want instanceof RegExp) {
      expect(got.kind).toBe('invalid');
      expect(got.kind === 'invalid' && got.reason).toMatch(want);
    } else {
      expect(got).toEqual(want);
    }
  });

  it('asks for more bytes at every point before a complete header, and never misreads a prefix', () => {
    for (const full of [
      v1('PROXY TCP4 192.0.2.7 10.0.0.1 12345 3128\r\n'),
      v2(0x21, 0x11, Buffer.concat([ipv4Payload, tlv])),
    ]) {
      for (let n = 0; n < full.length; n++)
        expect([n, parseProxyHeader(full.subarray(0, n))]).toEqual([n, { kind: 'incomplete' }]);
      expect(parseProxyHeader(full)).toMatchObject({ kind: 'header', length: full.length, source: '192.0.2.7' });
    }
  });
});
